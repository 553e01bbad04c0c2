import CCairo
import Foundation

/// Series colours: the Okabe–Ito palette, which stays distinguishable under the common forms
/// of colour blindness, without its yellow, which is too faint on white.
let seriesColors: [ChartColor] = [
    ChartColor(hex: 0x0072B2),
    ChartColor(hex: 0xE69F00),
    ChartColor(hex: 0x009E73),
    ChartColor(hex: 0xD55E00),
    ChartColor(hex: 0xCC79A7),
    ChartColor(hex: 0x56B4E9),
    ChartColor(hex: 0x000000),
]

/// Marker shapes. Five shapes and seven colours are coprime, so the first 35 series all
/// differ in their (colour, shape) pair.
enum MarkerShape: CaseIterable {
    case circle
    case square
    case triangleUp
    case diamond
    case triangleDown
}

func seriesStyle(_ index: Int) -> (color: ChartColor, marker: MarkerShape) {
    (seriesColors[index % seriesColors.count], MarkerShape.allCases[index % MarkerShape.allCases.count])
}

extension ChartCanvas {
    /// Draws a filled marker with a thin white outline, so that overlapping markers stay
    /// apart. `radius` is in points.
    func marker(_ shape: MarkerShape, at x: Double, _ y: Double, radius: Double, color: ChartColor) {
        switch shape {
        case .circle:
            cairo_new_sub_path(context)
            cairo_arc(context, x, y, radius, 0, 2 * Double.pi)
        case .square:
            let side = radius * 1.75
            cairo_rectangle(context, x - side / 2, y - side / 2, side, side)
        case .triangleUp, .triangleDown:
            let direction = shape == .triangleUp ? 1.0 : -1.0
            let size = radius * 1.25
            cairo_move_to(context, x, y - direction * size * 1.1)
            cairo_line_to(context, x + size, y + direction * size * 0.75)
            cairo_line_to(context, x - size, y + direction * size * 0.75)
            cairo_close_path(context)
        case .diamond:
            let size = radius * 1.3
            cairo_move_to(context, x, y - size)
            cairo_line_to(context, x + size, y)
            cairo_line_to(context, x, y + size)
            cairo_line_to(context, x - size, y)
            cairo_close_path(context)
        }
        setColor(color)
        cairo_fill_preserve(context)
        setColor(.white)
        cairo_set_line_width(context, 0.8)
        cairo_stroke(context)
    }
}

/// The measured geometry of one `LineChart` in a frame, and the drawing steps that use it.
struct LineChartLayout {
    static let titleSize = 15.0
    static let axisLabelSize = 12.0
    static let tickSize = 10.5
    static let legendSize = 10.5
    static let padding = 14.0
    static let tickLength = 5.0
    static let legendRowHeight = 18.0
    static let legendSampleWidth = 24.0
    static let maximumLegendNameWidth = 190.0
    static let maximumCategoryLabelWidth = 150.0
    static let markerRadius = 3.3

    enum LegendPlacement {
        case none
        case right
        case below(columns: Int, rows: Int)
    }

    let chart: LineChart
    let canvas: ChartCanvas
    let frame: ChartRect

    /// Per series, runs of consecutive plottable points in data coordinates.
    var runs: [[[(x: Double, y: Double)]]] = []
    /// Per series, the x of every point whose y is exactly 0 on a log axis, where it cannot be
    /// placed. They are marked on the bottom edge instead: a gradient of exactly zero (every
    /// unit dead) is the worst reading, and must not look like missing data.
    var zeroXs: [[Double]] = []
    var hasData = false

    var plot = ChartRect(x: 0, y: 0, width: 1, height: 1)
    var xLower = 0.0
    var xUpper = 1.0
    var yLower = 0.0
    var yUpper = 1.0

    var xTicks: [(value: Double, label: String?)] = []
    var rotateXLabels = false
    var yTicks: [(value: Double, label: [TextRun])] = []
    var yMinorTicks: [Double] = []

    var legendNames: [String] = []
    var legendEntryWidth = 0.0
    var legendPlacement = LegendPlacement.none

    init(chart: LineChart, canvas: ChartCanvas, frame: ChartRect) {
        self.chart = chart
        self.canvas = canvas
        self.frame = frame
    }

    // MARK: Geometry

    func isPlottable(_ point: (x: Double, y: Double)) -> Bool {
        point.x.isFinite && point.y.isFinite && (!chart.logScaleY || point.y > 0)
    }

    mutating func computeGeometry() {
        splitIntoRuns()
        computeYAxis()
        computeLegend()

        let titleHeight = chart.title.isEmpty ? Self.padding : Self.padding + Self.titleSize + 14
        let yLabelWidth = chart.yLabel.isEmpty ? 0 : Self.axisLabelSize + 10
        let yTickWidth = yTicks.map { canvas.width(of: $0.label, size: Self.tickSize) }.max() ?? 0
        plot.x = frame.x + Self.padding + yLabelWidth + yTickWidth + Self.tickLength + 5
        plot.y = frame.y + titleHeight

        var right = frame.maxX - Self.padding
        if case .right = legendPlacement {
            right -= legendEntryWidth + 16
        }
        plot.width = max(40, right - plot.x)
        if case .below = legendPlacement {
            legendPlacement = legendBelowPlacement()
        }

        let xTickHeight = computeXAxis()
        var bottom = frame.maxY - Self.padding
        bottom -= chart.xLabel.isEmpty ? 0 : Self.axisLabelSize + 10
        bottom -= xTickHeight + Self.tickLength + 6
        if case .below(_, let rows) = legendPlacement {
            bottom -= Double(rows) * Self.legendRowHeight + 10
        }
        plot.height = max(40, bottom - plot.y)
    }

    private mutating func splitIntoRuns() {
        runs = chart.series.map { series in
            var seriesRuns: [[(x: Double, y: Double)]] = []
            var current: [(x: Double, y: Double)] = []
            for point in series.points {
                if isPlottable(point) {
                    current.append(point)
                } else if !current.isEmpty {
                    seriesRuns.append(current)
                    current = []
                }
            }
            if !current.isEmpty {
                seriesRuns.append(current)
            }
            return seriesRuns
        }
        zeroXs = chart.series.map { series in
            chart.logScaleY ? series.points.filter { $0.x.isFinite && $0.y == 0 }.map(\.x) : []
        }
        hasData = runs.contains { !$0.isEmpty } || zeroXs.contains { !$0.isEmpty }
    }

    private var plottedPoints: [(x: Double, y: Double)] {
        runs.flatMap { $0.flatMap { $0 } }
    }

    private mutating func computeYAxis() {
        let values = plottedPoints.map(\.y)
        let estimatedPlotHeight = frame.height - 130

        if chart.logScaleY {
            var minimum = values.min() ?? 1e-3
            var maximum = values.max() ?? 1
            if let range = chart.yRange {
                precondition(range.lowerBound > 0, "yRange must be positive on a log axis, got \(range)")
                minimum = range.lowerBound
                maximum = range.upperBound
            }
            let maximumMajorCount = max(2, min(10, Int(estimatedPlotHeight / 34)))
            let ticks = LogTicks.compute(minimum: minimum, maximum: maximum, maximumMajorCount: maximumMajorCount)
            yLower = LogTicks.powerOfTen(ticks.lowerExponent)
            yUpper = LogTicks.powerOfTen(ticks.upperExponent)
            yTicks = ticks.major.map { value in
                (value, powerOfTenLabel(LogTicks.floorExponent(value)))
            }
            yMinorTicks = ticks.minor

            // An axis of one decade would have only two labels, so 2 and 5 times the lower
            // power of ten are labelled too.
            if ticks.upperExponent - ticks.lowerExponent == 1 {
                for mantissa in [2, 5] {
                    let value = Double("\(mantissa)e\(ticks.lowerExponent)")!
                    yTicks.append((value, powerOfTenLabel(ticks.lowerExponent, mantissa: mantissa)))
                }
                yTicks.sort { $0.value < $1.value }
            }
            return
        }

        var lower = values.min() ?? 0
        var upper = values.max() ?? 1
        if let range = chart.yRange {
            lower = range.lowerBound
            upper = range.upperBound
        } else if upper > lower {
            let margin = (upper - lower) * 0.05
            lower -= margin
            upper += margin
        }
        let maximumCount = max(3, min(10, Int(estimatedPlotHeight / 45)))
        let ticks = LinearTicks.compute(lower: lower, upper: upper, maximumCount: maximumCount)
        yLower = ticks.lower
        yUpper = ticks.upper
        yTicks = ticks.values.map { value in
            (value, [TextRun(text: ticks.label(for: value))])
        }
    }

    private mutating func computeLegend() {
        let named = chart.series.count > 1 || chart.series.contains { !$0.name.isEmpty }
        guard named else {
            legendPlacement = .none
            return
        }

        legendNames = chart.series.map { series in
            canvas.truncate(series.name, toWidth: Self.maximumLegendNameWidth, size: Self.legendSize)
        }
        let nameWidth = legendNames.map { canvas.width(of: $0, size: Self.legendSize) }.max() ?? 0
        legendEntryWidth = Self.legendSampleWidth + 8 + nameWidth

        let availableHeight = frame.height - 150
        let fitsRight = Double(legendNames.count) * Self.legendRowHeight <= availableHeight
        let narrowEnough = legendEntryWidth <= frame.width * 0.3
        legendPlacement = fitsRight && narrowEnough ? .right : .below(columns: 1, rows: legendNames.count)
    }

    private func legendBelowPlacement() -> LegendPlacement {
        let columnWidth = legendEntryWidth + 18
        let columns = max(1, min(legendNames.count, Int((plot.width + 18) / columnWidth)))
        let rows = (legendNames.count + columns - 1) / columns
        return .below(columns: columns, rows: rows)
    }

    /// Places the x ticks for the known plot width and returns the height of their labels.
    private mutating func computeXAxis() -> Double {
        if let labels = chart.xTickLabels, !labels.isEmpty {
            return computeCategoryAxis(labels)
        }

        let values = plottedPoints.map(\.x) + zeroXs.joined()
        let integerStep = !values.isEmpty && values.allSatisfy { $0 == $0.rounded() }
        var lower = values.min() ?? 0
        var upper = values.max() ?? 1
        if upper > lower {
            let margin = (upper - lower) * 0.03
            lower -= margin
            upper += margin
        }

        var maximumCount = max(2, Int(plot.width / 55))
        while true {
            let ticks = LinearTicks.compute(
                lower: lower, upper: upper, maximumCount: maximumCount, integerStep: integerStep)
            let labels = ticks.values.map { ticks.label(for: $0) }
            let widest = labels.map { canvas.width(of: $0, size: Self.tickSize) }.max() ?? 0
            let spacing = plot.width * ticks.step / (ticks.upper - ticks.lower)
            if spacing >= widest + 14 || maximumCount == 2 {
                xLower = ticks.lower
                xUpper = ticks.upper
                xTicks = zip(ticks.values, labels).map { ($0, Optional($1)) }
                rotateXLabels = false
                return Self.tickSize
            }
            maximumCount -= 1
        }
    }

    private mutating func computeCategoryAxis(_ labels: [String]) -> Double {
        xLower = -0.5
        xUpper = Double(labels.count) - 0.5
        let shortened = labels.map { label in
            canvas.truncate(label, toWidth: Self.maximumCategoryLabelWidth, size: Self.tickSize)
        }
        let widest = shortened.map { canvas.width(of: $0, size: Self.tickSize) }.max() ?? 0
        let spacing = plot.width / Double(labels.count)

        if widest + 8 <= spacing {
            rotateXLabels = false
            xTicks = shortened.enumerated().map { (Double($0.offset), Optional($0.element)) }
            return Self.tickSize
        }

        // Rotated by 45 degrees, neighbouring labels are spacing·sin 45° apart across their
        // baselines. Labels that are drawn keep at least 1.3 line heights between them.
        let sine = sin(Double.pi / 4)
        let stride = max(1, Int((Self.tickSize * 1.3 / (spacing * sine)).rounded(.up)))
        rotateXLabels = true
        xTicks = shortened.enumerated().map { index, label in
            (Double(index), index.isMultiple(of: stride) ? label : nil)
        }
        return widest * sine + Self.tickSize * sine
    }

    // MARK: Mapping

    func screenX(_ x: Double) -> Double {
        plot.x + (x - xLower) / (xUpper - xLower) * plot.width
    }

    func screenY(_ y: Double) -> Double {
        if chart.logScaleY {
            let fraction = (log10(y) - log10(yLower)) / (log10(yUpper) - log10(yLower))
            return plot.maxY - fraction * plot.height
        }
        return plot.maxY - (y - yLower) / (yUpper - yLower) * plot.height
    }

    // MARK: Drawing

    func drawGrid() {
        for value in yMinorTicks {
            let y = screenY(value)
            canvas.line(from: (plot.x, y), to: (plot.maxX, y), color: .minorGrid, width: 0.6)
        }
        for tick in yTicks {
            let y = screenY(tick.value)
            canvas.line(from: (plot.x, y), to: (plot.maxX, y), color: .grid, width: 0.8)
        }
        // Category axes such as layer names get no vertical grid, which would be dense.
        guard chart.xTickLabels?.isEmpty ?? true else {
            return
        }
        for tick in xTicks {
            let x = screenX(tick.value)
            canvas.line(from: (x, plot.y), to: (x, plot.maxY), color: .grid, width: 0.8)
        }
    }

    /// Strokes the plot border before the series, so that markers on the edge stay visible.
    func drawFrame() {
        canvas.strokeRect(plot, color: .axis, width: 1)
    }

    func drawSeries() {
        guard hasData else {
            canvas.draw(
                "No data", at: plot.x + plot.width / 2, plot.y + plot.height / 2, size: Self.axisLabelSize,
                color: .secondaryText, horizontal: .center, vertical: .middle)
            return
        }

        let lineArea = ChartRect(x: plot.x, y: plot.y - 1, width: plot.width, height: plot.height + 2)
        canvas.clipped(to: lineArea) {
            for (index, seriesRuns) in runs.enumerated() {
                let screenRuns = seriesRuns.map { run in
                    run.map { (screenX($0.x), screenY($0.y)) }
                }
                canvas.polylines(screenRuns, color: seriesStyle(index).color, width: 1.8)
            }
        }

        let markerArea = ChartRect(x: plot.x - 6, y: plot.y - 6, width: plot.width + 12, height: plot.height + 12)
        canvas.clipped(to: markerArea) {
            for (index, seriesRuns) in runs.enumerated() {
                drawMarkers(of: seriesRuns, style: seriesStyle(index))
            }
            for (index, xs) in zeroXs.enumerated() {
                for x in xs {
                    canvas.marker(
                        seriesStyle(index).marker, at: screenX(x), plot.maxY, radius: Self.markerRadius,
                        color: seriesStyle(index).color)
                }
            }
        }
        if zeroXs.contains(where: { !$0.isEmpty }) {
            canvas.draw(
                "markers on the bottom edge: exactly 0", at: plot.maxX - 6, plot.maxY - 6, size: Self.tickSize,
                color: .secondaryText, horizontal: .right, vertical: .bottom)
        }
    }

    /// Marks every point of a series of up to 60 points. Longer series get about 40 evenly
    /// spaced markers, plus every point that is isolated between gaps.
    private func drawMarkers(of seriesRuns: [[(x: Double, y: Double)]], style: (color: ChartColor, marker: MarkerShape)) {
        let count = seriesRuns.reduce(0) { $0 + $1.count }
        let stride = count <= 60 ? 1 : max(1, count / 40)
        var position = 0
        for run in seriesRuns {
            for point in run {
                if position % stride == 0 || run.count == 1 {
                    canvas.marker(
                        style.marker, at: screenX(point.x), screenY(point.y), radius: Self.markerRadius,
                        color: style.color)
                }
                position += 1
            }
        }
    }

    func drawAxes() {

        for value in yMinorTicks where chart.logScaleY {
            let y = screenY(value)
            canvas.line(from: (plot.x - 3, y), to: (plot.x, y), color: .axis, width: 0.8)
        }
        for tick in yTicks {
            let y = screenY(tick.value)
            canvas.line(from: (plot.x - Self.tickLength, y), to: (plot.x, y), color: .axis, width: 1)
            canvas.draw(
                tick.label, at: plot.x - Self.tickLength - 4, y, size: Self.tickSize, horizontal: .right,
                vertical: .middle)
        }

        let labelTop = plot.maxY + Self.tickLength + 5
        for tick in xTicks {
            let x = screenX(tick.value)
            let length = tick.label == nil ? 3 : Self.tickLength
            canvas.line(from: (x, plot.maxY), to: (x, plot.maxY + length), color: .axis, width: 1)
            guard let label = tick.label else {
                continue
            }
            if rotateXLabels {
                canvas.draw(
                    label, at: x + 3, labelTop, size: Self.tickSize, horizontal: .right, vertical: .top,
                    angle: -Double.pi / 4)
            } else {
                canvas.draw(label, at: x, labelTop, size: Self.tickSize, horizontal: .center, vertical: .top)
            }
        }

        drawTitles()
    }

    private func drawTitles() {
        if !chart.title.isEmpty {
            // The title is centred over the plot, so it may extend only as far as the nearer
            // frame edge on both sides.
            let center = plot.x + plot.width / 2
            let halfWidth = min(center - frame.x, frame.maxX - center) - Self.padding
            let title = canvas.truncate(chart.title, toWidth: 2 * halfWidth, size: Self.titleSize, bold: true)
            canvas.draw(
                title, at: center, frame.y + Self.padding, size: Self.titleSize, bold: true,
                horizontal: .center, vertical: .top)
        }
        if !chart.yLabel.isEmpty {
            let label = canvas.truncate(chart.yLabel, toWidth: plot.height, size: Self.axisLabelSize)
            canvas.draw(
                label, at: frame.x + Self.padding, plot.y + plot.height / 2, size: Self.axisLabelSize,
                horizontal: .center, vertical: .top, angle: -Double.pi / 2)
        }
        if !chart.xLabel.isEmpty {
            var bottom = frame.maxY - Self.padding
            if case .below(_, let rows) = legendPlacement {
                bottom -= Double(rows) * Self.legendRowHeight + 10
            }
            canvas.draw(
                chart.xLabel, at: plot.x + plot.width / 2, bottom, size: Self.axisLabelSize,
                horizontal: .center, vertical: .bottom)
        }
    }

    func drawLegend() {
        switch legendPlacement {
        case .none:
            return
        case .right:
            for index in legendNames.indices {
                let y = plot.y + 6 + Self.legendRowHeight * (Double(index) + 0.5)
                drawLegendEntry(index, x: plot.maxX + 16, y: y)
            }
        case .below(let columns, let rows):
            let top = frame.maxY - Self.padding - Double(rows) * Self.legendRowHeight
            for index in legendNames.indices {
                let column = index % columns
                let row = index / columns
                let x = plot.x + Double(column) * (legendEntryWidth + 18)
                let y = top + Self.legendRowHeight * (Double(row) + 0.5)
                drawLegendEntry(index, x: x, y: y)
            }
        }
    }

    private func drawLegendEntry(_ index: Int, x: Double, y: Double) {
        let style = seriesStyle(index)
        canvas.line(from: (x, y), to: (x + Self.legendSampleWidth, y), color: style.color, width: 1.8)
        canvas.marker(
            style.marker, at: x + Self.legendSampleWidth / 2, y, radius: Self.markerRadius, color: style.color)
        canvas.draw(
            legendNames[index], at: x + Self.legendSampleWidth + 8, y, size: Self.legendSize,
            vertical: .middle)
    }
}
