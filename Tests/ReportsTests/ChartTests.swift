import Foundation
import XCTest

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import Reports

/// Reads the width and height from a PNG's IHDR chunk, or returns nil when `data` is not a PNG.
func pngSize(_ data: Data) -> (width: Int, height: Int)? {
    let bytes = [UInt8](data)
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    guard bytes.count > 24, Array(bytes[0..<8]) == signature, String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR" else {
        return nil
    }
    func bigEndian(_ offset: Int) -> Int {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
    }
    return (bigEndian(16), bigEndian(20))
}

func sampleGradientChart() -> LineChart {
    LineChart(
        title: "Average gradient norm per epoch", xLabel: "Epoch", yLabel: "Gradient norm",
        series: [
            Series(name: "features.0", values: [1e-3, 5e-4, 2e-4, 1e-4]),
            Series(name: "classifier & head", values: [2e-1, .nan, 5e-2, 0]),
        ],
        logScaleY: true)
}

final class ChartFileTests: XCTestCase {
    func testLineChartPNGSize() throws {
        let data = try sampleGradientChart().data(format: .png)

        let size = try XCTUnwrap(pngSize(data), "not a PNG")
        XCTAssertEqual(size.width, 1600)
        XCTAssertEqual(size.height, 1000)
    }

    func testLineChartSVGParses() throws {
        let svg = try sampleGradientChart().svgString()

        let document = try XMLDocument(xmlString: svg, options: [])
        let root = try XCTUnwrap(document.rootElement())
        XCTAssertEqual(root.name, "svg")
        let viewBox = root.attributes?.first { $0.name == "viewBox" }
        XCTAssertEqual(viewBox?.stringValue, "0 0 800 500")
        let title = try XCTUnwrap(root.elements(forName: "title").first?.stringValue)
        XCTAssertEqual(title, "Average gradient norm per epoch")
        let description = try XCTUnwrap(root.elements(forName: "desc").first?.stringValue)
        XCTAssertTrue(description.contains("features.0"), description)
        XCTAssertTrue(description.contains("classifier & head"), description)
        XCTAssertTrue(svg.contains("<use"), "no glyphs drawn")
    }

    func testPDFStructure() throws {
        let data = try sampleGradientChart().data(format: .pdf)
        let text = String(decoding: data, as: UTF8.self)

        XCTAssertTrue(text.hasPrefix("%PDF-"))
        XCTAssertTrue(text.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("%%EOF"))
        XCTAssertTrue(text.contains("/Type /Page"))
    }

    func testWriteUsesExtension() throws {
        let directory = try makeTemporaryDirectory(self)
        let chart = sampleGradientChart()

        for name in ["gradients.png", "gradients.svg", "gradients.pdf"] {
            try chart.write(to: directory.appendingPathComponent(name))
        }

        let png = try Data(contentsOf: directory.appendingPathComponent("gradients.png"))
        XCTAssertNotNil(pngSize(png))
        let svg = try String(contentsOf: directory.appendingPathComponent("gradients.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        let pdf = try Data(contentsOf: directory.appendingPathComponent("gradients.pdf"))
        XCTAssertEqual(String(decoding: pdf.prefix(5), as: UTF8.self), "%PDF-")

        let unknown = directory.appendingPathComponent("gradients.bmp")
        XCTAssertThrowsError(try chart.write(to: unknown)) { error in
            XCTAssertEqual(error as? ReportError, .unsupportedChartFormat(path: unknown.path))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: unknown.path))
    }

    func testFigurePanelsSideBySide() throws {
        let loss = LineChart(
            title: "Loss", xLabel: "Epoch", yLabel: "Loss",
            series: [Series(name: "train", values: [2.3, 1.2]), Series(name: "test", values: [2.4, 1.5])])
        let accuracy = LineChart(
            title: "Accuracy", xLabel: "Epoch", yLabel: "Accuracy",
            series: [Series(name: "test", values: [0.3, 0.6])], yRange: 0...1, width: 600, height: 400)
        let figure = ChartFigure(panels: [loss, accuracy], columns: 2)

        let size = try XCTUnwrap(pngSize(try figure.data(format: .png)))
        XCTAssertEqual(size.width, 2 * 800 * 2)
        XCTAssertEqual(size.height, 500 * 2)

        let svg = try figure.svgString()
        XCTAssertNoThrow(try XMLDocument(xmlString: svg, options: []))
        XCTAssertTrue(svg.contains("Loss; Accuracy"))
    }

    func testHeatmapFiles() throws {
        let heatmap = Heatmap(
            title: "Gradient norm", xLabel: "Epoch", rowLabels: ["features.0", "features.3", "classifier.0"],
            columnLabels: ["1", "2", "3", "4"],
            values: [[1e-5, 2e-5, .nan, 4e-5], [1e-3, 1e-3, 1e-3, 0], [0.5, 0.1, 0.05, 0.01]],
            valueLabel: "Gradient norm")

        let size = try XCTUnwrap(pngSize(try heatmap.data(format: .png)))
        XCTAssertEqual(size.width, 1600)
        XCTAssertEqual(Double(size.height), (heatmap.canvasSize.height * 2).rounded())

        let svg = try heatmap.svgString()
        let document = try XMLDocument(xmlString: svg, options: [])
        let description = try XCTUnwrap(document.rootElement()?.elements(forName: "desc").first?.stringValue)
        for label in heatmap.rowLabels {
            XCTAssertTrue(description.contains(label), "\(label) missing from \(description)")
        }
    }
}

final class ChartPixelTests: XCTestCase {
    /// 0xAARRGGBB of the first series colour, #0072B2.
    let firstSeriesColor: UInt32 = 0xFF00_72B2

    func testMarkersAtDataPoints() {
        let chart = LineChart(
            title: "", xLabel: "x", yLabel: "y",
            series: [Series(name: "only", points: [(1, 1), (2, 4), (3, 2)])])

        let (image, layout) = chart.renderWithLayout()

        for point in chart.series[0].points {
            let pixel = image.pixel(atPoint: layout.screenX(point.x), layout.screenY(point.y))
            XCTAssertEqual(pixel, firstSeriesColor, "no marker at \(point)")
        }
    }

    func testLogAxisGapAtNonPositive() {
        let points: [(x: Double, y: Double)] = [(1, 2e-3), (2, 2e-3), (3, 0), (4, 2e-3)]
        let chart = LineChart(
            title: "", xLabel: "x", yLabel: "y", series: [Series(name: "gap", points: points)], logScaleY: true)

        let (image, layout) = chart.renderWithLayout()

        let y = layout.screenY(2e-3)
        let joined = image.pixel(atPoint: layout.screenX(1.5), y)
        XCTAssertEqual(joined, firstSeriesColor, "points 1 and 2 are not joined")
        let gap = image.pixel(atPoint: layout.screenX(3), y)
        XCTAssertNotEqual(gap, firstSeriesColor, "the line crosses the gap at x = 3")
        XCTAssertEqual(layout.yLower, 1e-3)
        XCTAssertEqual(layout.yUpper, 1e-2)
    }

    /// A value of exactly 0 cannot sit on a log axis. It is marked on the bottom edge, so that a
    /// layer whose gradient died does not look like one without data, even when every later
    /// value is zero.
    func testLogAxisMarksExactZeroOnBottomEdge() {
        let points: [(x: Double, y: Double)] = [(1, 2e-3), (2, 1e-3), (3, 0), (4, 0)]
        let chart = LineChart(
            title: "", xLabel: "x", yLabel: "y", series: [Series(name: "dead", points: points)], logScaleY: true)

        let (image, layout) = chart.renderWithLayout()

        XCTAssertEqual(layout.zeroXs.first, [3, 4])
        XCTAssertGreaterThanOrEqual(layout.xUpper, 4, "the x axis covers the zero points")
        for x in [3.0, 4.0] {
            XCTAssertEqual(image.pixel(atPoint: layout.screenX(x), layout.plot.maxY - 2), firstSeriesColor, "no marker at x = \(x)")
        }
        XCTAssertNotEqual(image.pixel(atPoint: layout.screenX(2.5), layout.plot.maxY - 2), firstSeriesColor, "no line runs to the zeros")
    }

    func testLogAxisMapsDecadesEvenly() {
        let chart = LineChart(
            title: "Decades", xLabel: "x", yLabel: "y",
            series: [Series(name: "a", points: [(0, 1e-6), (1, 1e-2)])], logScaleY: true)

        let (_, layout) = chart.renderWithLayout()

        XCTAssertEqual(layout.screenY(1e-6), layout.plot.maxY, accuracy: 1e-9)
        XCTAssertEqual(layout.screenY(1e-2), layout.plot.y, accuracy: 1e-9)
        let quarter = layout.plot.maxY - layout.plot.height / 4
        XCTAssertEqual(layout.screenY(1e-5), quarter, accuracy: 1e-9)
    }
}

final class AxisTickTests: XCTestCase {
    func testLogTicksSnapToDecades() {
        let ticks = LogTicks.compute(minimum: 3e-6, maximum: 2e-2)

        XCTAssertEqual(ticks.lowerExponent, -6)
        XCTAssertEqual(ticks.upperExponent, -1)
        XCTAssertEqual(ticks.major, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
        XCTAssertEqual(ticks.minor.count, 5 * 8)
        XCTAssertEqual(Array(ticks.minor.prefix(8)), [2e-6, 3e-6, 4e-6, 5e-6, 6e-6, 7e-6, 8e-6, 9e-6])
        XCTAssertEqual(ticks.minor.last, 9e-2)
    }

    func testLogTicksExactPowers() {
        let ticks = LogTicks.compute(minimum: 1e-5, maximum: 1e-3)

        XCTAssertEqual(ticks.lowerExponent, -5)
        XCTAssertEqual(ticks.upperExponent, -3)
        XCTAssertEqual(ticks.major, [1e-5, 1e-4, 1e-3])
        XCTAssertEqual(ticks.minor.count, 16)
    }

    func testLogTicksWithinOneDecade() {
        let inside = LogTicks.compute(minimum: 0.3, maximum: 0.3)
        XCTAssertEqual(inside.major, [0.1, 1])

        let power = LogTicks.compute(minimum: 1, maximum: 1)
        XCTAssertEqual(power.major, [1, 10])
    }

    func testLogTicksThinManyDecades() {
        // 1e-12 ... 5e3 snaps to exponents -12 ... 4: 17 powers, more than 8, so every third
        // power (multiples of 3) is labelled and the other 11 become minor ticks.
        let ticks = LogTicks.compute(minimum: 1e-12, maximum: 5e3, maximumMajorCount: 8)

        XCTAssertEqual(ticks.lowerExponent, -12)
        XCTAssertEqual(ticks.upperExponent, 4)
        XCTAssertEqual(ticks.major, [1e-12, 1e-9, 1e-6, 1e-3, 1, 1e3])
        XCTAssertEqual(ticks.minor, [1e-11, 1e-10, 1e-8, 1e-7, 1e-5, 1e-4, 1e-2, 1e-1, 10, 100, 1e4])
    }

    func testLinearTicksOfUnitRange() {
        let ticks = LinearTicks.compute(lower: 0, upper: 1, maximumCount: 6)

        XCTAssertEqual(ticks.step, 0.2)
        XCTAssertEqual(ticks.values, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(ticks.values.map(ticks.label(for:)), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
    }

    func testLinearTicksIntegerEpochs() {
        // 0.73 ... 10.27 over at most 14 ticks needs a step of 9.54 / 13 = 0.73, so 1.
        let fine = LinearTicks.compute(lower: 0.73, upper: 10.27, maximumCount: 14, integerStep: true)
        XCTAssertEqual(fine.values, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        XCTAssertEqual(fine.label(for: 7), "7")

        // 1 ... 20 over at most 8 ticks needs 19 / 7 = 2.71, so 5.
        let coarse = LinearTicks.compute(lower: 1, upper: 20, maximumCount: 8, integerStep: true)
        XCTAssertEqual(coarse.values, [5, 10, 15, 20])

        // 0 ... 3 over at most 20 ticks would allow 0.25, but epochs need whole steps.
        let whole = LinearTicks.compute(lower: 0, upper: 3, maximumCount: 20, integerStep: true)
        XCTAssertEqual(whole.values, [0, 1, 2, 3])
    }

    func testLinearTicksNegativeAndQuarterSteps() {
        // -3 ... 7 over at most 3 ticks needs 10 / 2 = 5: multiples of 5 inside are 0 and 5.
        let ticks = LinearTicks.compute(lower: -3, upper: 7, maximumCount: 3)
        XCTAssertEqual(ticks.values, [0, 5])

        // 0 ... 1 over at most 5 ticks needs 0.25.
        let quarters = LinearTicks.compute(lower: 0, upper: 1, maximumCount: 5)
        XCTAssertEqual(quarters.values, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(quarters.label(for: 0.75), "0.75")
    }

    func testLinearTicksWidenSingleValue() {
        let ticks = LinearTicks.compute(lower: 2, upper: 2, maximumCount: 5)

        XCTAssertEqual(ticks.lower, 1)
        XCTAssertEqual(ticks.upper, 3)
        XCTAssertEqual(ticks.values, [1, 1.5, 2, 2.5, 3])
    }

    func testViridisEnds() {
        let low = viridis(0)
        XCTAssertEqual(low.red * 255, 0x44, accuracy: 1e-9)
        XCTAssertEqual(low.green * 255, 0x01, accuracy: 1e-9)
        XCTAssertEqual(low.blue * 255, 0x54, accuracy: 1e-9)

        // Halfway between control points 8 (#21918C) and 9 (#1FA088) of 17.
        let between = viridis(8.5 / 16)
        XCTAssertEqual(between.red * 255, Double(0x21 + 0x1F) / 2, accuracy: 1e-9)
        XCTAssertEqual(between.green * 255, Double(0x91 + 0xA0) / 2, accuracy: 1e-9)
        XCTAssertEqual(between.blue * 255, Double(0x8C + 0x88) / 2, accuracy: 1e-9)

        let high = viridis(2)
        XCTAssertEqual(high.green * 255, 0xE7, accuracy: 1e-9)
    }
}

final class TickLabelTests: XCTestCase {
    func testCompactScientific() {
        XCTAssertEqual(compactScientific(1e6), "1e6")
        XCTAssertEqual(compactScientific(-5e5), "-5e5")
        XCTAssertEqual(compactScientific(2.5e-7), "2.5e-7")
        XCTAssertEqual(compactScientific(0), "0")
        XCTAssertEqual(compactScientific(123), "123")
    }

    func testLargeLinearLabels() {
        let ticks = LinearTicks.compute(lower: -1e6, upper: 1e6, maximumCount: 5)

        XCTAssertEqual(ticks.values, [-1e6, -5e5, 0, 5e5, 1e6])
        XCTAssertEqual(ticks.values.map(ticks.label(for:)), ["-1e6", "-5e5", "0", "5e5", "1e6"])
    }

    func testPowerOfTenLabelText() {
        XCTAssertEqual(powerOfTenLabel(-6).map(\.text), ["10", "\u{2212}6"])
        XCTAssertEqual(powerOfTenLabel(3, mantissa: 2).map(\.text), ["2\u{00D7}10", "3"])
    }
}

final class ChartLayoutTests: XCTestCase {
    func testEmptyChartRenders() throws {
        let chart = LineChart(title: "Nothing yet", xLabel: "Epoch", yLabel: "Loss", series: [])

        let size = try XCTUnwrap(pngSize(try chart.data(format: .png)))
        XCTAssertEqual(size.width, 1600)
        let logChart = LineChart(
            title: "Only gaps", xLabel: "Epoch", yLabel: "Norm", series: [Series(name: "zero", values: [0, .nan])],
            logScaleY: true)
        XCTAssertNotNil(pngSize(try logChart.data(format: .png)))
    }

    func testLegendRightOfPlot() {
        let chart = sampleGradientChart()

        let (_, layout) = chart.renderWithLayout()

        guard case .right = layout.legendPlacement else {
            return XCTFail("legend placed \(layout.legendPlacement)")
        }
        XCTAssertLessThanOrEqual(layout.plot.maxX + 16 + layout.legendEntryWidth, chart.width)
    }

    func testManySeriesLegendBelow() {
        let series = (0..<30).map { index in
            Series(name: "module.block\(index).conv", values: [1, 2, Double(index)])
        }
        let chart = LineChart(title: "Many", xLabel: "Epoch", yLabel: "Value", series: series)

        let (_, layout) = chart.renderWithLayout()

        guard case .below(let columns, let rows) = layout.legendPlacement else {
            return XCTFail("legend placed \(layout.legendPlacement)")
        }
        XCTAssertGreaterThanOrEqual(columns * rows, 30)
        XCTAssertLessThanOrEqual(Double(columns) * (layout.legendEntryWidth + 18) - 18, layout.plot.width)
        let legendTop = chart.height - LineChartLayout.padding - Double(rows) * LineChartLayout.legendRowHeight
        XCTAssertLessThan(layout.plot.maxY, legendTop)
    }

    func testLayerLabelsRotatedWithoutOverlap() {
        let labels = (0..<53).map { "layer\($0 / 12 + 1).\($0 % 3).conv\($0 % 3 + 1)" }
        let points = labels.indices.map { (x: Double($0), y: 1e-3 * Double($0 + 1)) }
        let chart = LineChart(
            title: "Depth", xLabel: "Layer", yLabel: "RMS", series: [Series(name: "epoch 1", points: points)],
            logScaleY: true, xTickLabels: labels)

        let (_, layout) = chart.renderWithLayout()

        XCTAssertTrue(layout.rotateXLabels)
        XCTAssertEqual(layout.xTicks.count, 53)
        let shown = layout.xTicks.filter { $0.label != nil }.map(\.value)
        XCTAssertLessThan(shown.count, 53)
        XCTAssertEqual(shown.first, 0)
        for (left, right) in zip(shown, shown.dropFirst()) {
            let distance = (layout.screenX(right) - layout.screenX(left)) * sin(Double.pi / 4)
            XCTAssertGreaterThanOrEqual(distance, LineChartLayout.tickSize * 1.3 - 1e-9)
        }
    }

    func testShortLayerLabelsStayHorizontal() {
        let labels = ["conv1", "conv2", "fc"]
        let points = labels.indices.map { (x: Double($0), y: Double($0 + 1)) }
        let chart = LineChart(
            title: "Depth", xLabel: "Layer", yLabel: "RMS", series: [Series(name: "", points: points)],
            xTickLabels: labels)

        let (_, layout) = chart.renderWithLayout()

        XCTAssertFalse(layout.rotateXLabels)
        XCTAssertEqual(layout.xTicks.compactMap(\.label), labels)
        guard case .none = layout.legendPlacement else {
            return XCTFail("a single unnamed series got a legend")
        }
    }
}
