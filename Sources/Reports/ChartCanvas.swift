import CCairo
import Foundation

/// The file format of a chart.
public enum ChartFormat: String, CaseIterable {
    /// A raster image at `ChartCanvas.pngScale` pixels per point.
    case png
    /// Scalable vector graphics; text is drawn as glyph outlines.
    case svg
    /// A one-page PDF document.
    case pdf

    /// The format named by a file extension (`png`, `svg` or `pdf`, any case), or nil.
    public init?(pathExtension: String) {
        self.init(rawValue: pathExtension.lowercased())
    }
}

/// An sRGB colour with components in 0...1.
struct ChartColor {
    var red: Double
    var green: Double
    var blue: Double
    var alpha: Double = 1

    /// Creates a colour from a 24-bit `0xRRGGBB` value.
    init(hex: UInt32, alpha: Double = 1) {
        red = Double((hex >> 16) & 0xFF) / 255
        green = Double((hex >> 8) & 0xFF) / 255
        blue = Double(hex & 0xFF) / 255
        self.alpha = alpha
    }

    init(red: Double, green: Double, blue: Double, alpha: Double = 1) {
        self.red = red
        self.green = green
        self.blue = blue
        self.alpha = alpha
    }

    static let text = ChartColor(hex: 0x222222)
    static let secondaryText = ChartColor(hex: 0x555555)
    static let axis = ChartColor(hex: 0x555555)
    static let grid = ChartColor(hex: 0xDDDDDD)
    static let minorGrid = ChartColor(hex: 0xEFEFEF)
    static let white = ChartColor(hex: 0xFFFFFF)
    static let missing = ChartColor(hex: 0xD4D4D4)
    /// A heatmap cell whose value is exactly 0, which a log colour scale cannot show: a red that
    /// no viridis colour comes near.
    static let exactZero = ChartColor(hex: 0xD62728)
}

/// A rectangle in points, y growing downwards as in Cairo.
struct ChartRect {
    var x: Double
    var y: Double
    var width: Double
    var height: Double

    var maxX: Double { x + width }
    var maxY: Double { y + height }
}

/// The alignment of text relative to the point it is drawn at.
enum HorizontalAnchor {
    case left
    case center
    case right
}

enum VerticalAnchor {
    case top
    case middle
    case baseline
    case bottom
}

/// A piece of text with its own size and baseline shift, so that `10` and a superscript
/// exponent can be measured and drawn as one label.
struct TextRun {
    var text: String
    var scale: Double = 1
    var rise: Double = 0
}

/// Drawing helpers over a Cairo context, in points. Every chart draws through this type so
/// that PNG, SVG and PDF output come from the same code.
struct ChartCanvas {
    /// Pixels per point in PNG output: a 800 × 500 point chart becomes 1600 × 1000 pixels.
    static let pngScale = 2.0

    /// The font family of all chart text. Cairo's toy text API falls back to fontconfig's
    /// default sans-serif face when it is not installed.
    static let fontFamily = "DejaVu Sans"

    let context: OpaquePointer

    /// Draws with `draw` on a `width` × `height` point surface of `format` and returns the
    /// encoded file.
    ///
    /// - Parameter title: stored as the PDF title and as the SVG `<title>`.
    /// - Parameter description: stored as the SVG `<desc>`, e.g. the series names.
    /// - Throws: `ReportError.drawingFailed` when Cairo reports an error.
    static func render(
        width: Double, height: Double, format: ChartFormat, title: String, description: String,
        draw: (ChartCanvas) -> Void
    ) throws -> Data {
        let collector = ByteCollector()
        let closure = Unmanaged.passUnretained(collector).toOpaque()

        let surface: OpaquePointer?
        switch format {
        case .png:
            surface = cairo_image_surface_create(
                CAIRO_FORMAT_ARGB32, Int32((width * pngScale).rounded()),
                Int32((height * pngScale).rounded()))
        case .svg:
            surface = cairo_svg_surface_create_for_stream(collectBytes, closure, width, height)
        case .pdf:
            surface = cairo_pdf_surface_create_for_stream(collectBytes, closure, width, height)
        }
        guard let surface else {
            throw ReportError.drawingFailed(operation: "creating a \(format) surface", status: "no surface")
        }
        defer {
            cairo_surface_destroy(surface)
        }
        try checkStatus(cairo_surface_status(surface), operation: "creating a \(format) surface")

        if format == .pdf {
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "GradScope")
        }

        guard let context = cairo_create(surface) else {
            throw ReportError.drawingFailed(operation: "creating a context", status: "no context")
        }
        defer {
            cairo_destroy(context)
        }
        if format == .png {
            cairo_scale(context, pngScale, pngScale)
        }

        let canvas = ChartCanvas(context: context)
        canvas.fill(ChartRect(x: 0, y: 0, width: width, height: height), color: .white)
        draw(canvas)
        try checkStatus(cairo_status(context), operation: "drawing the \(format) chart")

        cairo_surface_flush(surface)
        if format == .png {
            let status = cairo_surface_write_to_png_stream(surface, collectBytes, closure)
            try checkStatus(status, operation: "encoding PNG")
        }
        cairo_surface_finish(surface)
        try checkStatus(cairo_surface_status(surface), operation: "finishing the \(format) chart")

        if format == .svg {
            let svg = renumberSurfaces(String(decoding: collector.data, as: UTF8.self))
            return addSVGMetadata(Data(svg.utf8), title: title, description: description)
        }
        return collector.data
    }

    private static func checkStatus(_ status: cairo_status_t, operation: String) throws {
        if status != CAIRO_STATUS_SUCCESS {
            let message = String(cString: cairo_status_to_string(status))
            throw ReportError.drawingFailed(operation: operation, status: message)
        }
    }

    /// Inserts `<title>` and `<desc>` after the opening `<svg>` tag. Cairo draws text as glyph
    /// outlines, so these are the only searchable and accessible text in the file.
    private static func addSVGMetadata(_ data: Data, title: String, description: String) -> Data {
        var text = String(decoding: data, as: UTF8.self)
        guard let svgStart = text.range(of: "<svg"),
            let tagEnd = text[svgStart.upperBound...].firstIndex(of: ">")
        else {
            return data
        }
        let metadata = "\n<title>\(escapeXML(title))</title>\n<desc>\(escapeXML(description))</desc>"
        text.insert(contentsOf: metadata, at: text.index(after: tagEnd))
        return Data(text.utf8)
    }

    // MARK: Shapes

    func setColor(_ color: ChartColor) {
        cairo_set_source_rgba(context, color.red, color.green, color.blue, color.alpha)
    }

    func fill(_ rect: ChartRect, color: ChartColor) {
        setColor(color)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_fill(context)
    }

    func strokeRect(_ rect: ChartRect, color: ChartColor, width: Double) {
        setColor(color)
        cairo_set_line_width(context, width)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_stroke(context)
    }

    func line(from start: (Double, Double), to end: (Double, Double), color: ChartColor, width: Double) {
        setColor(color)
        cairo_set_line_width(context, width)
        cairo_move_to(context, start.0, start.1)
        cairo_line_to(context, end.0, end.1)
        cairo_stroke(context)
    }

    /// Strokes connected polylines, one per run of consecutive points.
    func polylines(_ runs: [[(Double, Double)]], color: ChartColor, width: Double) {
        setColor(color)
        cairo_set_line_width(context, width)
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_ROUND)
        for run in runs where run.count > 1 {
            cairo_move_to(context, run[0].0, run[0].1)
            for point in run.dropFirst() {
                cairo_line_to(context, point.0, point.1)
            }
        }
        cairo_stroke(context)
    }

    /// Restricts drawing inside `body` to `rect`.
    func clipped(to rect: ChartRect, _ body: () -> Void) {
        cairo_save(context)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_clip(context)
        body()
        cairo_restore(context)
    }

    // MARK: Text

    private func selectFont(size: Double, bold: Bool) {
        let weight = bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL
        cairo_select_font_face(context, Self.fontFamily, CAIRO_FONT_SLANT_NORMAL, weight)
        cairo_set_font_size(context, size)
    }

    /// Measures the advance width of `runs` set in `size` points.
    func width(of runs: [TextRun], size: Double, bold: Bool = false) -> Double {
        var total = 0.0
        for run in runs {
            selectFont(size: size * run.scale, bold: bold)
            var extents = cairo_text_extents_t()
            cairo_text_extents(context, run.text, &extents)
            total += extents.x_advance
        }
        return total
    }

    func width(of text: String, size: Double, bold: Bool = false) -> Double {
        width(of: [TextRun(text: text)], size: size, bold: bold)
    }

    /// Shortens `text` with a trailing ellipsis until it fits in `maximumWidth` points.
    func truncate(_ text: String, toWidth maximumWidth: Double, size: Double, bold: Bool = false) -> String {
        guard width(of: text, size: size, bold: bold) > maximumWidth else {
            return text
        }
        var characters = Array(text)
        while !characters.isEmpty {
            characters.removeLast()
            let candidate = String(characters) + "…"
            if width(of: candidate, size: size, bold: bold) <= maximumWidth {
                return candidate
            }
        }
        return "…"
    }

    /// Draws `runs` anchored at (`x`, `y`), rotated by `angle` radians (clockwise, as Cairo
    /// measures) around that point.
    func draw(
        _ runs: [TextRun], at x: Double, _ y: Double, size: Double, color: ChartColor = .text,
        bold: Bool = false, horizontal: HorizontalAnchor = .left, vertical: VerticalAnchor = .baseline,
        angle: Double = 0
    ) {
        let totalWidth = width(of: runs, size: size, bold: bold)
        selectFont(size: size, bold: bold)
        var fontExtents = cairo_font_extents_t()
        cairo_font_extents(context, &fontExtents)

        var offsetX = 0.0
        switch horizontal {
        case .left:
            offsetX = 0
        case .center:
            offsetX = -totalWidth / 2
        case .right:
            offsetX = -totalWidth
        }

        // Digits and capitals fill about 0.73 em above the baseline in DejaVu Sans, so the
        // middle and top anchors use that height instead of the font's full ascent.
        let capitalHeight = 0.73 * size
        var baselineY = 0.0
        switch vertical {
        case .top:
            baselineY = capitalHeight
        case .middle:
            baselineY = capitalHeight / 2
        case .baseline:
            baselineY = 0
        case .bottom:
            baselineY = -fontExtents.descent
        }

        cairo_save(context)
        cairo_translate(context, x, y)
        cairo_rotate(context, angle)
        setColor(color)
        var penX = offsetX
        for run in runs {
            selectFont(size: size * run.scale, bold: bold)
            cairo_move_to(context, penX, baselineY - run.rise * size)
            cairo_show_text(context, run.text)
            var extents = cairo_text_extents_t()
            cairo_text_extents(context, run.text, &extents)
            penX += extents.x_advance
        }
        cairo_restore(context)
    }

    func draw(
        _ text: String, at x: Double, _ y: Double, size: Double, color: ChartColor = .text,
        bold: Bool = false, horizontal: HorizontalAnchor = .left, vertical: VerticalAnchor = .baseline,
        angle: Double = 0
    ) {
        draw(
            [TextRun(text: text)], at: x, y, size: size, color: color, bold: bold,
            horizontal: horizontal, vertical: vertical, angle: angle)
    }
}

/// Receives the bytes of a Cairo stream surface or PNG stream.
private final class ByteCollector {
    var data = Data()
}

private let collectBytes: cairo_write_func_t = { closure, bytes, length in
    guard let closure, let bytes else {
        return CAIRO_STATUS_WRITE_ERROR
    }
    let collector = Unmanaged<ByteCollector>.fromOpaque(closure).takeUnretainedValue()
    collector.data.append(bytes, count: Int(length))
    return CAIRO_STATUS_SUCCESS
}

/// Escapes the five XML special characters.
func escapeXML(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "&":
            escaped += "&amp;"
        case "<":
            escaped += "&lt;"
        case ">":
            escaped += "&gt;"
        case "\"":
            escaped += "&quot;"
        case "'":
            escaped += "&#39;"
        default:
            escaped.append(character)
        }
    }
    return escaped
}

/// Pixels of a chart drawn on an image surface, for checking what was drawn where.
struct RenderedImage {
    var width: Int
    var height: Int
    /// Row-major pixels as 0xAARRGGBB (premultiplied alpha; the background is opaque).
    var pixels: [UInt32]

    /// Returns the pixel under the point (`x`, `y`) given in chart points.
    func pixel(atPoint x: Double, _ y: Double) -> UInt32 {
        let column = Int(x * ChartCanvas.pngScale)
        let row = Int(y * ChartCanvas.pngScale)
        return pixels[row * width + column]
    }
}

extension ChartCanvas {
    /// Draws with `draw` on a `width` × `height` point image surface at `pngScale` and returns
    /// its pixels instead of encoding them.
    static func renderPixels(width: Double, height: Double, draw: (ChartCanvas) -> Void) -> RenderedImage {
        let pixelWidth = Int32((width * pngScale).rounded())
        let pixelHeight = Int32((height * pngScale).rounded())
        let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pixelWidth, pixelHeight)!
        defer {
            cairo_surface_destroy(surface)
        }
        let context = cairo_create(surface)!
        defer {
            cairo_destroy(context)
        }
        cairo_scale(context, pngScale, pngScale)

        let canvas = ChartCanvas(context: context)
        canvas.fill(ChartRect(x: 0, y: 0, width: width, height: height), color: .white)
        draw(canvas)
        cairo_surface_flush(surface)

        let stride = Int(cairo_image_surface_get_stride(surface))
        let base = cairo_image_surface_get_data(surface)!
        var pixels: [UInt32] = []
        pixels.reserveCapacity(Int(pixelWidth) * Int(pixelHeight))
        for row in 0..<Int(pixelHeight) {
            let rowPointer = UnsafeRawPointer(base + row * stride).assumingMemoryBound(to: UInt32.self)
            for column in 0..<Int(pixelWidth) {
                pixels.append(rowPointer[column])
            }
        }
        return RenderedImage(width: Int(pixelWidth), height: Int(pixelHeight), pixels: pixels)
    }
}

/// Renumbers Cairo's `surfaceN` ids from 1 in order of appearance. Cairo counts surfaces across
/// the whole process, so the same chart drawn after other charts (as in a resumed run) would
/// otherwise get other ids. Only ids and `#` references change, never embedded image data.
func renumberSurfaces(_ svg: String) -> String {
    var numbers: [Substring: Int] = [:]
    var result = ""
    var rest = svg[...]
    while let match = rest.range(of: #"(id="|#)surface[0-9]+"#, options: .regularExpression) {
        let reference = rest[match]
        let nameStart = reference.range(of: "surface")!.lowerBound
        let name = reference[nameStart...]
        let number = numbers[name] ?? numbers.count + 1
        numbers[name] = number
        result += rest[..<nameStart]
        result += "surface\(number)"
        rest = rest[match.upperBound...]
    }
    return result + rest
}
