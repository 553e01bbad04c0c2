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
}
