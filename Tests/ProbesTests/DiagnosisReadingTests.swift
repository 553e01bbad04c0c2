@testable import Probes
import XCTest

/// The few words per layer in `summary.md`.
final class DiagnosisReadingTests: XCTestCase {
    private let thresholds = DiagnosisThresholds()

    func testLevelAndTrendDoNotRepeatEachOther() {
        let reading = Diagnosis.reading(ratio: 1e-4, trend: -0.5, isReference: false, thresholds: thresholds, nonfinite: false)
        XCTAssertEqual(reading, "vanishing, falling over epochs")
        XCTAssertEqual(
            Diagnosis.reading(ratio: 0.5, trend: 0, isReference: false, thresholds: thresholds, nonfinite: false),
            "high and stable")
    }

    /// Dead units pass no gradient at all, which a level against the output side would call
    /// vanishing.
    func testDeadLayerReadsDead() {
        let reading = Diagnosis.reading(
            ratio: 1e-4, trend: -0.5, isReference: false, thresholds: thresholds, nonfinite: false, dead: true)
        XCTAssertEqual(reading, "dead")
        XCTAssertEqual(
            Diagnosis.reading(ratio: nil, trend: nil, isReference: false, thresholds: thresholds, nonfinite: true, dead: true),
            "non-finite (diverged)")
    }

    /// A layer whose gradient is exactly zero is reported as having none, not as vanishing at 0×.
    func testZeroGradientIsNotCalledVanishing() {
        func summary(_ probe: String, rms: Double) -> ProbeEpochSummary {
            ProbeEpochSummary(
                probe: probe, path: probe,
                metrics: [.gradOutputRMS: MetricSummary([rms]), .gradOutputL2: MetricSummary([rms * 10])])
        }
        let epochs = [
            EpochResult(epoch: 1, trainLoss: 1, trainAccuracy: 0.5, testLoss: nil, testAccuracy: nil, probes: [
                summary("dead", rms: 0), summary("small", rms: 1e-5), summary("output", rms: 1),
            ]),
        ]

        let diagnoses = Diagnosis.diagnose(epochs: epochs, forwardOrder: ["dead", "small", "output"])

        let dead = diagnoses[0].findings.joined(separator: "; ")
        XCTAssertTrue(dead.contains("no gradient: the last epoch's gradient is exactly zero"), dead)
        XCTAssertFalse(dead.contains("vanishing"), dead)
        XCTAssertEqual(diagnoses[0].reading, "dead")
        XCTAssertTrue(diagnoses[1].findings.joined().hasPrefix("vanishing: gradient RMS is 1.00e-05×"), diagnoses[1].findings.joined())
    }
}
