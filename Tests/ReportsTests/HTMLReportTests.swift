import Foundation
import XCTest

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import Reports

final class HTMLReportTests: XCTestCase {
    func makeReport() throws -> HTMLReport {
        let heatmap = Heatmap(
            title: "Heatmap", xLabel: "Epoch", rowLabels: ["a", "b"], columnLabels: ["1", "2"],
            values: [[1e-3, 1e-2], [1e-1, 1]], valueLabel: "Norm")

        var report = HTMLReport(title: "Run <vgg11> & \"friends\"", subtitle: "CIFAR-10, 3 epochs")
        report.addSection(
            title: "Diagnosis",
            blocks: [
                .findings([
                    HTMLReport.Finding(severity: .error, title: "Vanishing gradients", detail: "features.0 < 1e-7"),
                    HTMLReport.Finding(severity: .info, title: "Done", detail: ""),
                ])
            ])
        report.addSection(
            title: "Charts",
            blocks: [
                .chart(svg: try sampleGradientChart().svgString(), caption: "Gradient norm"),
                .chart(svg: try heatmap.svgString(), caption: "Heatmap"),
            ])
        report.addSection(
            title: "Epochs",
            blocks: [.table(header: ["Epoch", "Loss", "Note"], rows: [["1", "2.5", "a|b"], ["2", "nan", "<none>"]])])
        report.addSection(
            title: "Configuration",
            blocks: [.keyValues([("model", "vgg11"), ("data", "/data/cifar10 & more")]), .preformatted("a < b")])
        return report
    }

    func testRenderIsWellFormedXML() throws {
        let html = try makeReport().render()

        let document = try XMLDocument(xmlString: html, options: [])
        XCTAssertEqual(document.rootElement()?.name, "html")
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
    }

    func testRenderIsSelfContained() throws {
        let html = try makeReport().render()

        XCTAssertFalse(html.lowercased().contains("<script"))
        XCTAssertFalse(html.contains("@import"))
        XCTAssertFalse(html.contains("<link"))
        XCTAssertFalse(html.contains("<img"))
        let references = try NSRegularExpression(pattern: #"(?:src|href)\s*=\s*"([^"]*)""#)
        let range = NSRange(html.startIndex..., in: html)
        let matches = references.matches(in: html, range: range)
        XCTAssertFalse(matches.isEmpty)
        for match in matches {
            let target = String(html[Range(match.range(at: 1), in: html)!])
            XCTAssertTrue(target.hasPrefix("#"), "external reference \(target)")
        }
        XCTAssertFalse(html.contains("url(http"))
    }

    func testInlineChartIDsAreUniqueAndResolved() throws {
        let html = try makeReport().render()

        let ids = captures(of: #" id="([^"]*)""#, in: html)
        XCTAssertEqual(Set(ids).count, ids.count, "duplicate ids")
        XCTAssertTrue(ids.contains { $0.hasPrefix("chart1-glyph") })
        XCTAssertTrue(ids.contains { $0.hasPrefix("chart2-glyph") })

        let idSet = Set(ids)
        for reference in captures(of: ##"href="#([^"]*)""##, in: html) + captures(of: ##"url\(#([^)]*)\)"##, in: html) {
            XCTAssertTrue(idSet.contains(reference), "unresolved reference #\(reference)")
        }
        XCTAssertFalse(html.contains("<?xml"))
        XCTAssertFalse(html.contains("width=\"800pt\""))
    }

    /// A page and a chart's SVG rendered after other charts were drawn are the same, byte for
    /// byte, although Cairo numbers its surfaces across the process.
    func testRenderDoesNotDependOnEarlierCharts() throws {
        let first = try makeReport().render()
        for _ in 0..<3 {
            _ = try sampleGradientChart().svgString()
        }
        let second = try makeReport().render()
        XCTAssertEqual(first, second)
        XCTAssertEqual(try sampleGradientChart().svgString(), try sampleGradientChart().svgString())
        XCTAssertTrue(first.contains("id=\"chart1-surface1\""), "surface ids start at 1 in each chart")
    }

    func testSurfaceReferencesAreRenumberedTogether() {
        let svg = ##"<svg><g id="surface17"><use xlink:href="#surface20"/></g><g id="surface20"/><image href="data:,surface99"/></svg>"##
        XCTAssertEqual(
            renumberSurfaces(svg),
            ##"<svg><g id="surface1"><use xlink:href="#surface2"/></g><g id="surface2"/><image href="data:,surface99"/></svg>"##)
    }

    func testTextIsEscaped() throws {
        let html = try makeReport().render()

        XCTAssertTrue(html.contains("<h1>Run &lt;vgg11&gt; &amp; &quot;friends&quot;</h1>"))
        XCTAssertTrue(html.contains("<td>&lt;none&gt;</td>"))
        XCTAssertTrue(html.contains("<pre>a &lt; b</pre>"))
        XCTAssertTrue(html.contains("<dd>/data/cifar10 &amp; more</dd>"))
    }

    func testTableAndFindingMarkup() throws {
        let html = try makeReport().render()

        XCTAssertTrue(html.contains("<th class=\"number\">Epoch</th><th class=\"number\">Loss</th><th>Note</th>"))
        XCTAssertTrue(html.contains("<td class=\"number\">2.5</td>"))
        XCTAssertTrue(html.contains("<li class=\"finding error\"><span class=\"badge\">Error</span>"))
        XCTAssertTrue(html.contains("<a href=\"#section-4\">Configuration</a>"))
    }

    func testWriteCreatesFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("report.html")
        let report = try makeReport()

        try report.write(to: url)

        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), report.render())
    }

    private func captures(of pattern: String, in text: String) -> [String] {
        let expression = try! NSRegularExpression(pattern: pattern)
        let range = NSRange(text.startIndex..., in: text)
        return expression.matches(in: text, range: range).map { match in
            String(text[Range(match.range(at: 1), in: text)!])
        }
    }
}
