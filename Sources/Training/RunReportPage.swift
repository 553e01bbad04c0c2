import Foundation
import Probes
import Reports

/// `report.html` of one run: configuration, charts, tables and diagnosis on one self-contained page.
struct RunReportPage {
    let configuration: TrainingConfiguration
    let results: [EpochResult]
    let diagnoses: [LayerDiagnosis]
    let figures: RunFigures
    let dataOrigin: String

    func page() throws -> HTMLReport {
        let model = configuration.model.name + (configuration.model.skipConnections ? "" : " without skip connections")
        var report = HTMLReport(
            title: "GradScope: \(model)",
            subtitle: "\(dataOrigin) · \(results.count) of \(configuration.epochs) epochs · \(configuration.optimizer.rawValue) lr \(configuration.learningRate) · batch \(configuration.batchSize)")

        report.addSection(title: "Diagnosis", blocks: [.findings(findings()), .paragraph(thresholdsNote(configuration.thresholds).replacingOccurrences(of: "*", with: ""))])

        var charts: [HTMLReport.Block] = [
            .chart(svg: try figures.gradients.svgString(), caption: "Mean ‖grad_output‖ per epoch and probed layer (log scale)."),
        ]
        if let depth = figures.depth {
            charts.append(.chart(svg: try depth.svgString(), caption: "Mean gradient RMS per probed layer, input side on the left, for the first, a middle and the last epoch (log scale)."))
        }
        if let heatmap = figures.heatmap, heatmap.values.contains(where: { $0.contains { $0 > 0 && $0.isFinite } }) {
            charts.append(.chart(svg: try heatmap.svgString(), caption: "Mean gradient RMS (‖grad_output‖ / √elements) by layer and epoch, input side at the top."))
        }
        charts.append(.chart(svg: try figures.loss.svgString(), caption: "Loss and accuracy per epoch."))
        report.addSection(title: "Gradient flow", blocks: charts)

        report.addSection(title: "Layers", blocks: [.table(
            header: ["layer", "path", "epoch 1 mean", "last epoch mean", "trend", "RMS vs output", "reading"],
            rows: diagnoses.map { diagnosis in
                [
                    diagnosis.probe, diagnosis.path, Diagnosis.format(diagnosis.firstEpochMean), Diagnosis.format(diagnosis.lastEpochMean),
                    diagnosis.trendPerEpoch.map { Diagnosis.format($0) } ?? "—",
                    diagnosis.ratioToOutput.map { Diagnosis.format($0) } ?? "—", diagnosis.reading,
                ]
            })])

        report.addSection(title: "Epochs", blocks: [.table(
            header: ["epoch", "train loss", "train accuracy", "test loss", "test accuracy"],
            rows: results.map { result in
                [
                    String(result.epoch), String(format: "%.4f", result.trainLoss), String(format: "%.1f%%", result.trainAccuracy * 100),
                    result.testLoss.map { String(format: "%.4f", $0) } ?? "—", result.testAccuracy.map { String(format: "%.1f%%", $0 * 100) } ?? "—",
                ]
            })])

        report.addSection(title: "Configuration", blocks: [.keyValues(configurationPairs())])
        return report
    }

    /// One card per layer with findings, its lines ordered as the diagnosis found them.
    private func findings() -> [HTMLReport.Finding] {
        var findings: [HTMLReport.Finding] = []
        for diagnosis in diagnoses where !diagnosis.findings.isEmpty {
            let severity: HTMLReport.Severity
            switch diagnosis.severity {
            case .error: severity = .error
            case .warning: severity = .warning
            case .note, .ok: severity = .info
            }
            let title = diagnosis.probe == diagnosis.path ? diagnosis.path : "\(diagnosis.probe) (\(diagnosis.path))"
            findings.append(HTMLReport.Finding(severity: severity, title: title, detail: diagnosis.findings.joined(separator: "; ")))
        }
        if let learning = Diagnosis.learningFinding(epochs: results, classes: configuration.model.numClasses) {
            findings.insert(HTMLReport.Finding(severity: .warning, title: "Whole model", detail: learning), at: 0)
        }
        if results.isEmpty {
            findings = [HTMLReport.Finding(severity: .info, title: "No diagnosis yet", detail: "The diagnosis reads finished epochs, and no epoch has finished.")]
        } else if findings.isEmpty {
            findings.append(HTMLReport.Finding(severity: .info, title: "No layer crossed a threshold", detail: "Every probed layer's gradients stayed within the thresholds below."))
        }
        return findings
    }

    private func configurationPairs() -> [(key: String, value: String)] {
        let specification = configuration.model
        var pairs: [(String, String)] = [
            ("model", specification.name), ("classes", String(specification.numClasses)),
            ("data", dataOrigin), ("image size", configuration.imageSize.map { "\($0)x\($0)" } ?? "native"),
            ("normalize", String(configuration.normalize)), ("epochs", String(configuration.epochs)),
            ("batch size", String(configuration.batchSize)), ("optimizer", configuration.optimizer.rawValue),
            ("learning rate", String(configuration.learningRate)), ("weight decay", String(configuration.weightDecay)),
            ("seed", String(configuration.seed)), ("shuffle", String(configuration.shuffle)),
            ("probes", configuration.effectiveProbes.joined(separator: " ")),
            ("convolutions", (configuration.convolutionAlgorithm ?? .automatic).rawValue),
            ("GradScope", gradScopeVersion),
        ]
        if !specification.skipConnections {
            pairs.append(("skip connections", "off"))
        }
        if let weights = configuration.weights {
            pairs.append(("weights", weights))
        }
        return pairs
    }
}
