import Foundation
import Probes
import Reports

/// `summary.md`: the original analysis's table for every probe, with a reading from stated thresholds.
struct RunSummary {
    let configuration: TrainingConfiguration
    let results: [EpochResult]
    let diagnoses: [LayerDiagnosis]
    let forwardOrder: [String]
    let dataOrigin: String

    func markdown() -> String {
        var lines: [String] = []
        let model = configuration.model.name + (configuration.model.skipConnections ? "" : " (no skip connections)")
        lines.append("# Gradient flow: \(model)")
        lines.append("")
        let epochRange = results.isEmpty ? "No finished epoch" : "Epochs 1–\(results.count) of \(configuration.epochs)"
        let size = configuration.imageSize.map { "resized to \($0)x\($0)" } ?? "native size"
        let normalized = configuration.normalize ? ", normalized" : ""
        lines.append("Data: \(dataOrigin), \(size)\(normalized). \(epochRange). Optimizer \(configuration.optimizer.rawValue), learning rate \(configuration.learningRate), batch \(configuration.batchSize), seed \(configuration.seed).")
        lines.append("")

        if let last = results.last {
            var accuracy = "Last epoch: train loss \(Diagnosis.format(last.trainLoss)), train accuracy \(percent(last.trainAccuracy))"
            if let testLoss = last.testLoss, let testAccuracy = last.testAccuracy {
                accuracy += ", test loss \(Diagnosis.format(testLoss)), test accuracy \(percent(testAccuracy))"
            }
            lines.append(accuracy + ".")
            lines.append("")
        }

        lines.append("## Gradient norm per layer")
        lines.append("")
        lines.append("Mean over each epoch's batches of ‖grad_output‖ (the L2 norm of dLoss/d output over the batch, as `grad_output[0].norm()`), input side first.")
        lines.append("")
        let table = MarkdownTable(
            header: ["layer", "path", "epoch 1 mean", "last epoch mean", "trend (decades/epoch)", "RMS vs output side", "reading"],
            rows: diagnoses.map { diagnosis in
                [
                    diagnosis.probe, "`\(diagnosis.path)`",
                    Diagnosis.format(diagnosis.firstEpochMean), Diagnosis.format(diagnosis.lastEpochMean),
                    diagnosis.trendPerEpoch.map { signed($0) } ?? "—",
                    diagnosis.ratioToOutput.map { Diagnosis.format($0) + "×" } ?? "—",
                    diagnosis.reading,
                ]
            },
            alignments: [.left, .left, .right, .right, .right, .right, .left])
        lines.append(table.render())
        lines.append("")

        lines.append("## Diagnosis")
        lines.append("")
        var findings = diagnoses.flatMap { diagnosis in
            diagnosis.findings.map { finding in
                let layer = diagnosis.probe == diagnosis.path ? "`\(diagnosis.path)`" : "**\(diagnosis.probe)** (`\(diagnosis.path)`)"
                return "- \(layer): \(finding)"
            }
        }
        if let learning = Diagnosis.learningFinding(epochs: results, classes: configuration.model.numClasses) {
            findings.insert("- Whole model: \(learning)", at: 0)
        }
        if results.isEmpty {
            findings = ["- None yet: the diagnosis reads finished epochs, and no epoch has finished."]
        }
        lines.append(contentsOf: findings.isEmpty ? ["- No layer crossed a threshold."] : findings)
        lines.append("")
        lines.append(thresholdsNote(configuration.thresholds))
        lines.append("")
        return lines.joined(separator: "\n")
    }

    private func percent(_ value: Double) -> String {
        String(format: "%.1f%%", value * 100)
    }

    private func signed(_ value: Double) -> String {
        (value >= 0 ? "+" : "") + Diagnosis.format(value)
    }
}

/// The thresholds behind every reading, in one paragraph.
func thresholdsNote(_ thresholds: DiagnosisThresholds) -> String {
    """
    Thresholds: a layer is *vanishing* when its gradient RMS is below \(Diagnosis.format(thresholds.vanishingRatio))× that of the \
    output-side probe, *exploding* above \(Diagnosis.format(thresholds.explodingRatio))×; *high* at 0.3× or more, *moderate* from 0.05×, \
    *low* below. The trend is the least-squares slope of log10 of the epoch means: *stable* within ±\(Diagnosis.format(thresholds.trendPerEpoch)) \
    decades per epoch. *Stalled* means a median update/weight ratio below \(Diagnosis.format(thresholds.stalledUpdateRatio)); *dead units* \
    means more than \(Diagnosis.format(thresholds.deadFraction * 100))% of output gradients are exactly zero.
    """
}
