import Foundation
import Probes
import XCTest

final class EpochSummaryCodingTests: XCTestCase {
    /// Returns the metric names of an encoded array of alternating names and summaries, in order.
    private func encodedMetricNames(_ array: Any?) -> [String] {
        guard let array = array as? [Any] else {
            return []
        }
        return stride(from: 0, to: array.count, by: 2).compactMap { array[$0] as? String }
    }

    func testSummaryMetricsFollowMetricOrder() throws {
        let metrics: [Metric: MetricSummary] = [
            .updateRatio: MetricSummary([1e-3]), .gradOutputL2: MetricSummary([2, 4]),
            .nonfiniteCount: MetricSummary([0]), .weightGradL2: MetricSummary([0.5]),
        ]
        let summary = ProbeEpochSummary(probe: "conv1", path: "features.0", metrics: metrics)

        let data = try JSONEncoder().encode(summary)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]

        let expected = Metric.allCases.filter { metrics[$0] != nil }.map(\.name)
        XCTAssertEqual(encodedMetricNames(object?["metrics"]), expected)
        XCTAssertEqual(try JSONDecoder().decode(ProbeEpochSummary.self, from: data), summary)
    }

    /// Files written before the order was fixed list the metrics in hash order, and they still load.
    func testSummaryInAnyOrderDecodes() throws {
        let json = """
            {"probe": "fc1", "path": "classifier.0", "metrics": [
              "weight_grad_l2", {"mean": 1, "median": 1, "p5": 1, "p95": 1, "min": 1, "max": 1},
              "grad_output_l2", {"mean": 2, "median": 2, "p5": 2, "p95": 2, "min": 2, "max": 2}]}
            """
        let summary = try JSONDecoder().decode(ProbeEpochSummary.self, from: Data(json.utf8))
        XCTAssertEqual(summary[.weightGradL2]?.mean, 1)
        XCTAssertEqual(summary[.gradOutputL2]?.mean, 2)
    }

    func testAccumulatorEncodesInMetricOrder() throws {
        var accumulator = EpochAccumulator()
        accumulator.add([
            ProbeRecord(probe: "conv1", path: "features.0", values: [.gradOutputL2: 3, .weightGradL2: 1]),
            ProbeRecord(probe: "fc1", path: "classifier.0", values: [.gradOutputRMS: 0.5]),
        ])
        accumulator.add([ProbeRecord(probe: "conv1", path: "features.0", values: [.gradOutputL2: 5])])
        // As a checkpoint's state.json is written: samples missing from a record are NaN.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")

        let data = try encoder.encode(accumulator)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let samples = object?["samples"] as? [String: Any]

        // Every metric gets a sample per batch, NaN where the record lacks it.
        XCTAssertEqual(encodedMetricNames(samples?["conv1"]), Metric.allCases.map(\.name))
        XCTAssertEqual(encodedMetricNames(samples?["fc1"]), Metric.allCases.map(\.name))

        let decoded = try decoder.decode(EpochAccumulator.self, from: data)
        XCTAssertEqual(try encoder.encode(decoded), data)
        let conv1 = decoded.summaries().first { $0.probe == "conv1" }
        XCTAssertEqual(conv1?[.gradOutputL2]?.mean, 4)
        XCTAssertEqual(conv1?.path, "features.0")
    }
}
