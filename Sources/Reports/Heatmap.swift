import CCairo
import Foundation

/// A grid of positive values coloured by log10(value), such as gradient norms with one row
/// per layer (labelled with its path) and one column per epoch.
///
/// Colours follow the viridis map from the smallest to the largest value; a colour bar on
/// the right shows the scale. Missing, non-finite and non-positive values are drawn grey.
public struct Heatmap {
    public var title: String
    public var xLabel: String
    /// Row names, top to bottom, e.g. layer paths in forward order.
    public var rowLabels: [String]
    /// Column names, left to right, e.g. epoch numbers.
    public var columnLabels: [String]
    /// `values[row][column]`, shape `[rowLabels.count][columnLabels.count]`.
    public var values: [[Double]]
    /// The title of the colour bar.
    public var valueLabel: String
    /// A fixed value range for the colours, or nil to fit the data. Both ends must be positive.
    public var valueRange: ClosedRange<Double>?
    /// The chart width in points; the height follows from the number of rows.
    public var width: Double

    /// - Precondition: `values` has `rowLabels.count` rows of `columnLabels.count` values.
    public init(
        title: String, xLabel: String, rowLabels: [String], columnLabels: [String], values: [[Double]],
        valueLabel: String, valueRange: ClosedRange<Double>? = nil, width: Double = 800
    ) {
        precondition(
            values.count == rowLabels.count,
            "values has \(values.count) rows, expected \(rowLabels.count) (rowLabels.count)")
        for (index, row) in values.enumerated() {
            precondition(
                row.count == columnLabels.count,
                "values[\(index)] has \(row.count) values, expected \(columnLabels.count) (columnLabels.count)")
        }
        if let valueRange {
            precondition(valueRange.lowerBound > 0, "valueRange must be positive, got \(valueRange)")
        }
        precondition(width >= 300, "width must be at least 300 points, got \(width)")
        self.title = title
        self.xLabel = xLabel
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.values = values
        self.valueLabel = valueLabel
        self.valueRange = valueRange
        self.width = width
    }

    /// Writes the heatmap to `url` atomically; see `LineChart.write(to:format:)`.
    public func write(to url: URL, format: ChartFormat? = nil) throws {
        try writeFile(to: url, format: format)
    }

    public func data(format: ChartFormat) throws -> Data {
        try encode(format: format)
    }

    public func svgString() throws -> String {
        String(decoding: try encode(format: .svg), as: UTF8.self)
    }

    static let labelSize = 10.0
    static let titleSize = 15.0
    static let padding = 14.0
    static let maximumRowLabelWidth = 260.0
    static let colorBarWidth = 16.0

    /// Row height in points: 22 for a few rows, shrinking to 7 so that 150 rows still fit.
    var rowHeight: Double {
        min(22, max(7, 440 / Double(max(1, rowLabels.count))))
    }
}

extension Heatmap: DrawableChart {
    var canvasSize: (width: Double, height: Double) {
        let top = Self.padding + Self.titleSize + 16
        let bottom = Self.padding + 2 * Self.labelSize + 30
        let plotHeight = max(180, rowHeight * Double(rowLabels.count))
        return (width, top + plotHeight + bottom)
    }

    var documentTitle: String {
        title
    }

    var documentDescription: String {
        "\(title). Rows: " + rowLabels.joined(separator: ", ") + ". Columns: "
            + columnLabels.joined(separator: ", ") + ". Colour: log10 of \(valueLabel)."
    }

    /// The smallest and largest positive finite value, or nil when there is none.
    var positiveRange: (minimum: Double, maximum: Double)? {
        if let valueRange {
            return (valueRange.lowerBound, valueRange.upperBound)
        }
        let positive = values.joined().filter { $0 > 0 && $0.isFinite }
        guard let minimum = positive.min(), let maximum = positive.max() else {
            return nil
        }
        return (minimum, maximum)
    }

    func draw(on canvas: ChartCanvas, in frame: ChartRect) {
        let rowLabelTexts = rowLabels.map { label in
            canvas.truncate(label, toWidth: Self.maximumRowLabelWidth, size: Self.labelSize)
        }
        let rowLabelWidth = rowLabelTexts.map { canvas.width(of: $0, size: Self.labelSize) }.max() ?? 0

        let range = positiveRange
        let colorBarTicks = range.map { colorBarTickLabels(minimum: $0.minimum, maximum: $0.maximum) } ?? []
        let colorBarLabelWidth = colorBarTicks.map { canvas.width(of: $0.label, size: Self.labelSize) }.max() ?? 0

        let top = frame.y + Self.padding + Self.titleSize + 16
        let plotHeight = max(180, rowHeight * Double(rowLabels.count))
        let left = frame.x + Self.padding + rowLabelWidth + 8
        let colorBarSpace = Self.colorBarWidth + 10 + colorBarLabelWidth + Self.labelSize + 34
        let right = frame.maxX - Self.padding - colorBarSpace
        let cellWidth = (right - left) / Double(max(1, columnLabels.count))
        let cellHeight = plotHeight / Double(max(1, rowLabels.count))
        let plot = ChartRect(x: left, y: top, width: right - left, height: plotHeight)

        let titleCenter = plot.x + plot.width / 2
        let titleHalfWidth = min(titleCenter - frame.x, frame.maxX - titleCenter) - Self.padding
        canvas.draw(
            canvas.truncate(title, toWidth: 2 * titleHalfWidth, size: Self.titleSize, bold: true),
            at: titleCenter, frame.y + Self.padding, size: Self.titleSize, bold: true,
            horizontal: .center, vertical: .top)

        drawCells(on: canvas, plot: plot, cellWidth: cellWidth, cellHeight: cellHeight, range: range)
        canvas.strokeRect(plot, color: .axis, width: 1)
        drawRowLabels(rowLabelTexts, on: canvas, plot: plot, cellHeight: cellHeight)
        drawColumnLabels(on: canvas, plot: plot, cellWidth: cellWidth)

        let colorBar = ChartRect(
            x: plot.maxX + 24, y: plot.y, width: Self.colorBarWidth, height: min(plot.height, 320))
        drawColorBar(on: canvas, in: colorBar, range: range, ticks: colorBarTicks)
    }

    private func color(for value: Double, range: (minimum: Double, maximum: Double)?) -> ChartColor {
        if value == 0 {
            return .exactZero
        }
        guard let range, value > 0, value.isFinite else {
            return .missing
        }
        let span = log10(range.maximum) - log10(range.minimum)
        let fraction = span > 0 ? (log10(value) - log10(range.minimum)) / span : 0.5
        return viridis(fraction)
    }

    private func drawCells(
        on canvas: ChartCanvas, plot: ChartRect, cellWidth: Double, cellHeight: Double,
        range: (minimum: Double, maximum: Double)?
    ) {
        // Cells overlap by a hair so that antialiasing leaves no light seams between them.
        for (row, rowValues) in values.enumerated() {
            for (column, value) in rowValues.enumerated() {
                let cell = ChartRect(
                    x: plot.x + Double(column) * cellWidth, y: plot.y + Double(row) * cellHeight,
                    width: cellWidth + 0.3, height: cellHeight + 0.3)
                canvas.fill(cell, color: color(for: value, range: range))
            }
        }
    }

    private func drawRowLabels(_ labels: [String], on canvas: ChartCanvas, plot: ChartRect, cellHeight: Double) {
        let stride = max(1, Int((Self.labelSize * 1.2 / cellHeight).rounded(.up)))
        for (row, label) in labels.enumerated() where row.isMultiple(of: stride) {
            let y = plot.y + (Double(row) + 0.5) * cellHeight
            canvas.draw(label, at: plot.x - 6, y, size: Self.labelSize, horizontal: .right, vertical: .middle)
        }
    }

    private func drawColumnLabels(on canvas: ChartCanvas, plot: ChartRect, cellWidth: Double) {
        let widest = columnLabels.map { canvas.width(of: $0, size: Self.labelSize) }.max() ?? 0
        let stride = max(1, Int(((widest + 10) / cellWidth).rounded(.up)))
        for (column, label) in columnLabels.enumerated() where column.isMultiple(of: stride) {
            let x = plot.x + (Double(column) + 0.5) * cellWidth
            canvas.line(from: (x, plot.maxY), to: (x, plot.maxY + 4), color: .axis, width: 1)
            canvas.draw(label, at: x, plot.maxY + 8, size: Self.labelSize, horizontal: .center, vertical: .top)
        }
        if !xLabel.isEmpty {
            canvas.draw(
                xLabel, at: plot.x + plot.width / 2, plot.maxY + 8 + Self.labelSize + 10, size: 12,
                horizontal: .center, vertical: .top)
        }
    }

    /// Tick labels of the colour bar: whole powers of ten inside the range, or 1…9 times
    /// powers of ten when fewer than two powers of ten fall inside it.
    func colorBarTickLabels(minimum: Double, maximum: Double) -> [(value: Double, label: [TextRun])] {
        let ticks = LogTicks.compute(minimum: minimum, maximum: maximum)
        let tolerance = 1e-9
        func inside(_ value: Double) -> Bool {
            value >= minimum * (1 - tolerance) && value <= maximum * (1 + tolerance)
        }

        let major = ticks.major.filter(inside)
        if major.count >= 2 {
            return major.map { ($0, powerOfTenLabel(LogTicks.floorExponent($0))) }
        }

        let all = (ticks.major + ticks.minor).filter(inside).sorted()
        let stride = max(1, all.count / 6)
        return all.enumerated().compactMap { index, value in
            index.isMultiple(of: stride) ? (value, [TextRun(text: String(format: "%g", value))]) : nil
        }
    }

    private func drawColorBar(
        on canvas: ChartCanvas, in bar: ChartRect, range: (minimum: Double, maximum: Double)?,
        ticks: [(value: Double, label: [TextRun])]
    ) {
        guard let range else {
            canvas.draw(
                "No positive values", at: bar.x, bar.y, size: Self.labelSize, color: .secondaryText,
                vertical: .top)
            return
        }

        let steps = 128
        let stepHeight = bar.height / Double(steps)
        for step in 0..<steps {
            let fraction = (Double(step) + 0.5) / Double(steps)
            let rect = ChartRect(
                x: bar.x, y: bar.maxY - Double(step + 1) * stepHeight, width: bar.width, height: stepHeight + 0.3)
            canvas.fill(rect, color: viridis(fraction))
        }
        canvas.strokeRect(bar, color: .axis, width: 0.8)

        let lowerLog = log10(range.minimum)
        let span = log10(range.maximum) - lowerLog
        for tick in ticks {
            let fraction = span > 0 ? (log10(tick.value) - lowerLog) / span : 0.5
            let y = bar.maxY - fraction * bar.height
            canvas.line(from: (bar.maxX, y), to: (bar.maxX + 4, y), color: .axis, width: 1)
            canvas.draw(tick.label, at: bar.maxX + 7, y, size: Self.labelSize, vertical: .middle)
        }

        let labelWidth = ticks.map { canvas.width(of: $0.label, size: Self.labelSize) }.max() ?? 0
        canvas.draw(
            valueLabel, at: bar.maxX + 14 + labelWidth, bar.y + bar.height / 2, size: Self.labelSize,
            color: .secondaryText, horizontal: .center, vertical: .top, angle: -Double.pi / 2)

        // Exactly 0 (all units dead) has its own colour, apart from cells without a value.
        var swatchTop = bar.maxY + 12
        for (color, label, isShown) in [
            (ChartColor.exactZero, "exactly 0", values.joined().contains(0)),
            (ChartColor.missing, "no value", values.joined().contains { $0 != 0 && !($0 > 0 && $0.isFinite) }),
        ] where isShown {
            let swatch = ChartRect(x: bar.x, y: swatchTop, width: bar.width, height: 10)
            canvas.fill(swatch, color: color)
            canvas.draw(
                label, at: swatch.maxX + 6, swatch.y + 5, size: Self.labelSize - 1, color: .secondaryText,
                vertical: .middle)
            swatchTop += 16
        }
    }
}

/// Returns the viridis colour at `fraction` in 0...1 (clamped), interpolated linearly in sRGB.
///
/// The 17 control points are matplotlib 3.11's viridis at 0, 1/16, …, 1, rounded to 8 bits.
/// Between them the interpolation is within 6/255 of matplotlib's colours.
func viridis(_ fraction: Double) -> ChartColor {
    let controlPoints: [UInt32] = [
        0x440154, 0x48186A, 0x472D7B, 0x424086, 0x3B528B, 0x33638D, 0x2C728E, 0x26828E, 0x21918C,
        0x1FA088, 0x28AE80, 0x3FBC73, 0x5EC962, 0x84D44B, 0xADDC30, 0xD8E219, 0xFDE725,
    ]
    let clamped = min(1, max(0, fraction.isNaN ? 0 : fraction))
    let position = clamped * Double(controlPoints.count - 1)
    let lowerIndex = min(controlPoints.count - 2, Int(position))
    let weight = position - Double(lowerIndex)
    let lower = ChartColor(hex: controlPoints[lowerIndex])
    let upper = ChartColor(hex: controlPoints[lowerIndex + 1])
    return ChartColor(
        red: lower.red + (upper.red - lower.red) * weight,
        green: lower.green + (upper.green - lower.green) * weight,
        blue: lower.blue + (upper.blue - lower.blue) * weight)
}
