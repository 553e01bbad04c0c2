import FileSupport
import Foundation

/// A chart that can draw itself in a rectangle of a canvas; `LineChart`, `ChartFigure` and
/// `Heatmap` share their file output through it.
protocol DrawableChart {
    /// The full chart size in points.
    var canvasSize: (width: Double, height: Double) { get }
    /// The title stored in the file's metadata.
    var documentTitle: String { get }
    /// A plain-text description stored in SVG files, such as the series names.
    var documentDescription: String { get }

    func draw(on canvas: ChartCanvas, in frame: ChartRect)
}

extension DrawableChart {
    func encode(format: ChartFormat) throws -> Data {
        let size = canvasSize
        return try ChartCanvas.render(
            width: size.width, height: size.height, format: format, title: documentTitle,
            description: documentDescription
        ) { canvas in
            draw(on: canvas, in: ChartRect(x: 0, y: 0, width: size.width, height: size.height))
        }
    }

    func writeFile(to url: URL, format: ChartFormat?) throws {
        let resolved = try format ?? Self.format(of: url)
        try writeAtomically(encode(format: resolved), to: url)
    }

    static func format(of url: URL) throws -> ChartFormat {
        guard let format = ChartFormat(pathExtension: url.pathExtension) else {
            throw ReportError.unsupportedChartFormat(path: url.path)
        }
        return format
    }
}
