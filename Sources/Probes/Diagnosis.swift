import Foundation

/// The limits a diagnosis applies; each is a `gradscope` option of the same name.
public struct DiagnosisThresholds: Codable, Equatable, Sendable {
    /// A layer whose gradient RMS is below this fraction of the output-side layer's is vanishing.
    public var vanishingRatio = 1e-2
    /// A layer whose gradient RMS is above this multiple of the output-side layer's is exploding.
    public var explodingRatio = 1e2
    /// A trend below minus this many decades per epoch (slope of log10 of the mean gradient norm)
    /// is decaying, above plus this many is growing.
    public var trendPerEpoch = 0.05
    /// A median update ratio (‖Δw‖ / ‖w‖) below this means the layer has stalled; healthy training
    /// is usually near 1e-3.
    public var stalledUpdateRatio = 1e-5
    /// A mean `zero_fraction` above this means nearly all units after the layer are dead ReLUs.
    public var deadFraction = 0.95

    public init() {}
}

/// The seriousness of a finding.
public enum Severity: String, Codable, Sendable, Comparable {
    case ok
    case note
    case warning
    case error

    private var rank: Int { [.ok, .note, .warning, .error].firstIndex(of: self)! }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// The reading of one probed layer over a run.
public struct LayerDiagnosis: Codable, Equatable, Sendable {
    public var probe: String
    public var path: String
    /// The mean `grad_output_l2` of the first and last epoch.
    public var firstEpochMean: Double
    public var lastEpochMean: Double
    /// Least-squares slope of log10(mean `grad_output_l2`) per epoch; nil with one epoch.
    public var trendPerEpoch: Double?
    /// Last-epoch mean `grad_output_rms` over the output-side layer's.
    public var ratioToOutput: Double?
    /// A short reading such as "high and stable", "low, falling over epochs" or "dead".
    public var reading: String
    /// Every finding with its threshold and reason, one line each.
    public var findings: [String]
    /// The severity of each finding, in the order of `findings`.
    public var findingSeverities: [Severity]
    public var severity: Severity
}

/// Reads per-epoch probe summaries into per-layer diagnoses with stated thresholds.
public enum Diagnosis {
    /// Diagnoses every probe in `forwardOrder` (probe names, input side first); the last of them is
    /// the output-side reference for vanishing and exploding.
    public static func diagnose(
        epochs: [EpochResult], forwardOrder: [String], thresholds: DiagnosisThresholds = DiagnosisThresholds()
    ) -> [LayerDiagnosis] {
        guard let last = epochs.last else {
            return []
        }
        func summary(_ probe: String, _ epoch: EpochResult) -> ProbeEpochSummary? {
            epoch.probes.first { $0.probe == probe }
        }
        let reference = forwardOrder.last.flatMap { summary($0, last)?[.gradOutputRMS]?.mean }

        return forwardOrder.compactMap { probe -> LayerDiagnosis? in
            guard let lastSummary = summary(probe, last) else {
                return nil
            }
            let means = epochs.compactMap { epoch in summary(probe, epoch)?[.gradOutputL2]?.mean }
            let trend = slopeOfLog10(means)
            let rms = lastSummary[.gradOutputRMS]?.mean
            let ratio = (rms != nil && reference != nil && reference! > 0) ? rms! / reference! : nil

            var findings: [String] = []
            var findingSeverities: [Severity] = []
            var severity = Severity.ok
            func flag(_ level: Severity, _ text: String) {
                findings.append(text)
                findingSeverities.append(level)
                severity = max(severity, level)
            }

            let nonfinite = epochs.compactMap { summary(probe, $0)?[.nonfiniteCount]?.max }.max() ?? 0
            if nonfinite > 0 || (rms.map { !$0.isFinite } ?? false) {
                flag(.error, "non-finite gradients: up to \(Int(nonfinite)) NaN or infinite values in a batch (threshold: any)")
            }
            if let ratio, probe != forwardOrder.last {
                if ratio == 0 {
                    flag(.warning, "no gradient: the last epoch's gradient is exactly zero, so the layer no longer learns")
                } else if ratio < thresholds.vanishingRatio {
                    flag(.warning, "vanishing: gradient RMS is \(format(ratio))× the output-side layer's (threshold \(format(thresholds.vanishingRatio))×)")
                } else if ratio > thresholds.explodingRatio {
                    flag(.warning, "exploding: gradient RMS is \(format(ratio))× the output-side layer's (threshold \(format(thresholds.explodingRatio))×)")
                }
            }
            if let trend {
                if trend < -thresholds.trendPerEpoch {
                    flag(.note, "decaying over epochs: log10 gradient norm falls \(format(-trend)) decades per epoch (threshold \(format(thresholds.trendPerEpoch)))")
                } else if trend > thresholds.trendPerEpoch {
                    flag(.note, "growing over epochs: log10 gradient norm rises \(format(trend)) decades per epoch (threshold \(format(thresholds.trendPerEpoch)))")
                }
            }
            if let update = lastSummary[.updateRatio]?.median, update.isFinite, update < thresholds.stalledUpdateRatio {
                flag(.warning, "stalled: median update/weight ratio \(format(update)) is below \(format(thresholds.stalledUpdateRatio)) (healthy is near 1e-3)")
            }
            if let zeros = lastSummary[.zeroFraction]?.mean, zeros > thresholds.deadFraction {
                flag(.warning, "dead units: \(format(zeros * 100))% of output gradients are exactly zero (threshold \(format(thresholds.deadFraction * 100))%)")
            }

            return LayerDiagnosis(
                probe: probe, path: lastSummary.path,
                firstEpochMean: means.first ?? .nan, lastEpochMean: means.last ?? .nan,
                trendPerEpoch: trend, ratioToOutput: ratio,
                reading: reading(
                    ratio: ratio, trend: trend, isReference: probe == forwardOrder.last, thresholds: thresholds,
                    nonfinite: severity == .error, dead: means.last == 0 || (lastSummary[.zeroFraction]?.mean ?? 0) > thresholds.deadFraction),
                findings: findings, findingSeverities: findingSeverities, severity: severity)
        }
    }

    /// Describes, for the whole run, a model that is not learning: the last epoch's training loss is
    /// still within 2% of ln(classes), the loss of a uniform guess, and its accuracy below 1.5
    /// times chance. Returns nil otherwise, or without epochs.
    public static func learningFinding(epochs: [EpochResult], classes: Int) -> String? {
        guard let last = epochs.last, classes > 1 else {
            return nil
        }
        let chanceLoss = Foundation.log(Double(classes))
        let chanceAccuracy = 1 / Double(classes)
        guard last.trainLoss >= 0.98 * chanceLoss, last.trainAccuracy < 1.5 * chanceAccuracy else {
            return nil
        }
        return "not learning: after \(epochs.count) epoch\(epochs.count == 1 ? "" : "s") the training loss \(format(last.trainLoss)) is still near ln \(classes) = \(format(chanceLoss)), the loss of a uniform guess, and accuracy \(format(last.trainAccuracy * 100))% is near chance (\(format(chanceAccuracy * 100))%)"
    }

    /// Writes a few words for the summary table: level against the output side, then the trend.
    /// Returns "dead" for a layer whose last epoch had no gradient or nearly only zeros, whatever
    /// its level, because units that pass no gradient differ from a small gradient.
    static func reading(
        ratio: Double?, trend: Double?, isReference: Bool, thresholds: DiagnosisThresholds, nonfinite: Bool,
        dead: Bool = false
    ) -> String {
        if nonfinite {
            return "non-finite (diverged)"
        }
        if dead {
            return "dead"
        }
        let level: String
        if isReference {
            level = "reference"
        } else if let ratio {
            if ratio < thresholds.vanishingRatio {
                level = "vanishing"
            } else if ratio > thresholds.explodingRatio {
                level = "exploding"
            } else if ratio >= 0.3 {
                level = "high"
            } else if ratio >= 0.05 {
                level = "moderate"
            } else {
                level = "low"
            }
        } else {
            level = "unknown level"
        }
        guard let trend else {
            return level
        }
        if trend < -thresholds.trendPerEpoch {
            return "\(level), falling over epochs"
        }
        if trend > thresholds.trendPerEpoch {
            return "\(level), rising over epochs"
        }
        return "\(level) and stable"
    }

    /// Fits the least-squares slope of log10(values) against their index. Returns nil with fewer than two positive values.
    public static func slopeOfLog10(_ values: [Double]) -> Double? {
        let points = values.enumerated().filter { $0.element > 0 && $0.element.isFinite }.map { (Double($0.offset), Foundation.log10($0.element)) }
        guard points.count >= 2 else {
            return nil
        }
        let meanX = points.map(\.0).reduce(0, +) / Double(points.count)
        let meanY = points.map(\.1).reduce(0, +) / Double(points.count)
        let covariance = points.map { ($0.0 - meanX) * ($0.1 - meanY) }.reduce(0, +)
        let variance = points.map { ($0.0 - meanX) * ($0.0 - meanX) }.reduce(0, +)
        return covariance / variance
    }

    /// Formats a number with at most three significant digits, in scientific notation outside [0.01, 1000).
    public static func format(_ value: Double) -> String {
        if !value.isFinite {
            return "\(value)"
        }
        let magnitude = abs(value)
        if magnitude != 0 && (magnitude < 0.01 || magnitude >= 1000) {
            return String(format: "%.2e", value)
        }
        return String(format: "%.3g", value)
    }
}
