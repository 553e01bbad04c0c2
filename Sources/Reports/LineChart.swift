import CCairo
import Foundation

/// A named sequence of (x, y) points drawn as one line with markers.
public struct Series {
    public var name: String
    /// Points in drawing order. A non-finite value, or a non-positive y on a logarithmic
    /// axis, leaves a gap in the line.
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }

    /// Creates a series with `values[i]` at x = `firstX + i`, such as one value per epoch from 1.
    public init(name: String, values: [Double], firstX: Double = 1) {
        self.name = name
        points = values.enumerated().map { index, value in
            (x: firstX + Double(index), y: value)
        }
    }
}

/// A line chart of several series against a linear x axis, saved as PNG, SVG or PDF.
///
/// Used for `gradients.png` (gradient norm per epoch and probe on a logarithmic y axis),
/// `loss.png` and gradient RMS against layer depth (with `xTickLabels` naming the layers).
/// The legend sits outside the plot area, right of it or below it when the series are many.
public struct LineChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]

    /// Draws y on a base-10 logarithmic axis snapped to whole decades.
    public var logScaleY: Bool

    /// Category labels: label i is drawn at x = i (layer indices in forward order, say).
    /// Long labels are rotated by 45 degrees and thinned out so they never overlap.
    public var xTickLabels: [String]?

    /// A fixed y range; nil fits the data. On a logarithmic axis both ends must be positive.
    public var yRange: ClosedRange<Double>?

    /// The chart size in points; PNG files have `ChartCanvas.pngScale` pixels per point.
    public var width: Double
    public var height: Double

    public init(
        title: String, xLabel: String, yLabel: String, series: [Series], logScaleY: Bool = false,
        xTickLabels: [String]? = nil, yRange: ClosedRange<Double>? = nil, width: Double = 800,
        height: Double = 500
    ) {
        precondition(width >= 200 && height >= 150, "width and height must be at least 200 × 150 points, got \(width) × \(height)")
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logScaleY = logScaleY
        self.xTickLabels = xTickLabels
        self.yRange = yRange
        self.width = width
        self.height = height
    }

    /// Writes the chart to `url` atomically, in `format` or else the one its extension names.
    ///
    /// - Throws: `ReportError.unsupportedChartFormat` for an unknown extension,
    ///   `ReportError.drawingFailed` when Cairo fails, and `FileOperationError`
    ///   when the file cannot be written.
    public func write(to url: URL, format: ChartFormat? = nil) throws {
        try writeFile(to: url, format: format)
    }

    /// Encodes the chart as a file of `format`.
    public func data(format: ChartFormat) throws -> Data {
        try encode(format: format)
    }

    /// Encodes the chart as SVG text, for embedding in HTML.
    public func svgString() throws -> String {
        String(decoding: try encode(format: .svg), as: UTF8.self)
    }
}

/// Several line charts on one canvas, in a grid filled row by row, e.g. loss and accuracy
/// side by side in `loss.png`. Each cell has the size of the largest panel.
public struct ChartFigure {
    public var panels: [LineChart]
    public var columns: Int

    /// - Precondition: `panels` is not empty and `columns >= 1`.
    public init(panels: [LineChart], columns: Int) {
        precondition(!panels.isEmpty, "panels must contain at least one chart, got none")
        precondition(columns >= 1, "columns must be at least 1, got \(columns)")
        self.panels = panels
        self.columns = columns
    }

    /// Writes the figure to `url` atomically; see `LineChart.write(to:format:)`.
    public func write(to url: URL, format: ChartFormat? = nil) throws {
        try writeFile(to: url, format: format)
    }

    public func data(format: ChartFormat) throws -> Data {
        try encode(format: format)
    }

    public func svgString() throws -> String {
        String(decoding: try encode(format: .svg), as: UTF8.self)
    }
}

extension ChartFigure: DrawableChart {
    private var cellSize: (width: Double, height: Double) {
        (panels.map(\.width).max()!, panels.map(\.height).max()!)
    }

    private var rowCount: Int {
        (panels.count + columns - 1) / columns
    }

    var canvasSize: (width: Double, height: Double) {
        let cell = cellSize
        return (cell.width * Double(min(columns, panels.count)), cell.height * Double(rowCount))
    }

    var documentTitle: String {
        panels.map(\.title).joined(separator: "; ")
    }

    var documentDescription: String {
        panels.map(\.documentDescription).joined(separator: "\n")
    }

    func draw(on canvas: ChartCanvas, in frame: ChartRect) {
        let cell = cellSize
        for (index, panel) in panels.enumerated() {
            let column = index % columns
            let row = index / columns
            let rect = ChartRect(
                x: frame.x + Double(column) * cell.width, y: frame.y + Double(row) * cell.height,
                width: cell.width, height: cell.height)
            panel.draw(on: canvas, in: rect)
        }
    }
}

extension LineChart: DrawableChart {
    var canvasSize: (width: Double, height: Double) {
        (width, height)
    }

    var documentTitle: String {
        title
    }

    var documentDescription: String {
        "\(title). x: \(xLabel). y: \(yLabel)\(logScaleY ? " (log scale)" : ""). Series: "
            + series.map(\.name).joined(separator: ", ")
    }

    func draw(on canvas: ChartCanvas, in frame: ChartRect) {
        var layout = LineChartLayout(chart: self, canvas: canvas, frame: frame)
        layout.computeGeometry()
        layout.drawGrid()
        layout.drawFrame()
        layout.drawSeries()
        layout.drawAxes()
        layout.drawLegend()
    }
}

extension LineChart {
    /// Draws the chart as pixels and returns them with the layout that maps data to points.
    func renderWithLayout() -> (image: RenderedImage, layout: LineChartLayout) {
        var layout: LineChartLayout?
        let image = ChartCanvas.renderPixels(width: width, height: height) { canvas in
            let frame = ChartRect(x: 0, y: 0, width: width, height: height)
            draw(on: canvas, in: frame)
            var measured = LineChartLayout(chart: self, canvas: canvas, frame: frame)
            measured.computeGeometry()
            layout = measured
        }
        return (image, layout!)
    }
}
