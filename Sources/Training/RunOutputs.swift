import FileSupport
import Foundation
import Probes
import Reports

/// Writes a run's files: `batches.csv` row by row, TensorBoard scalars, and after every epoch
/// `epochs.csv`, `summary.md`, the charts and `report.html`, each replaced atomically.
final class RunOutputs {
    let directory: RunDirectory
    let configuration: TrainingConfiguration
    let targets: [ProbeTarget]
    /// Probe names, input side first.
    let forwardOrder: [String]
    let dataOrigin: String
    private var batches: CSVAppender?
    private var events: TensorBoardWriter?

    /// The columns of `batches.csv`.
    static let batchHeader = ["epoch", "step", "probe", "path", "loss"] + Metric.allCases.map(\.name)

    /// The columns of `epochs.csv`.
    static let epochHeader = ["epoch", "probe", "path", "train_loss", "train_accuracy", "test_loss", "test_accuracy"]
        + Metric.allCases.flatMap { metric in MetricSummary.statisticNames.map { "\(metric.name)_\($0)" } }

    init(directory: RunDirectory, configuration: TrainingConfiguration, targets: [ProbeTarget], forwardOrder: [String], dataOrigin: String) throws {
        self.directory = directory
        self.configuration = configuration
        self.targets = targets
        self.forwardOrder = forwardOrder
        self.dataOrigin = dataOrigin
    }

    /// Writes `config.json` and opens the per-batch files. A resumed run keeps the rows of the
    /// steps its checkpoint covers and drops any written after it, and the half-written files of
    /// a run that was killed are deleted.
    func start(resumingAt state: TrainingState) throws {
        try directory.create()
        removeAbandonedTemporaryFiles(in: directory.url)
        removeAbandonedTemporaryFiles(in: directory.checkpoint)
        try writeConfiguration()
        try truncateBatches(afterStep: state.step)
        batches = try CSVAppender(url: directory.batches, header: RunOutputs.batchHeader)
        events = try TensorBoardWriter(directory: directory.url)
    }

    func writeConfiguration() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let record = ConfigurationRecord(gradscopeVersion: gradScopeVersion, configuration: configuration, probes: targets, data: dataOrigin)
        try writeAtomically(try encoder.encode(record), to: directory.configuration)
    }

    /// Drops the rows of `batches.csv` whose step is after `step` (left by a run stopped after its last checkpoint).
    private func truncateBatches(afterStep step: Int) throws {
        guard let text = try? String(contentsOf: directory.batches, encoding: .utf8) else {
            return
        }
        // The CSV writer ends every record with CRLF, and no field of this file contains one.
        var kept: [String] = []
        for (index, line) in text.components(separatedBy: "\r\n").enumerated() where !line.isEmpty {
            let fields = line.split(separator: ",", maxSplits: 2)
            if index == 0 || (fields.count >= 2 && Int(fields[1]).map { $0 <= step } ?? false) {
                kept.append(line + "\r\n")
            }
        }
        let rewritten = kept.joined()
        if rewritten != text {
            try writeAtomically(rewritten, to: directory.batches)
        }
    }

    /// Appends one row per probe for this step, and the step's TensorBoard scalars.
    func appendBatch(epoch: Int, step: Int, loss: Double, records: [ProbeRecord]) throws {
        let rows = records.map { record -> [CSVValue] in
            [.integer(epoch), .integer(step), .text(record.probe), .text(record.path), .double(loss)]
                + Metric.allCases.map { metric in
                    let value = record[metric]
                    return value.isNaN && record.values[metric] == nil ? .text("") : .double(value)
                }
        }
        try batches?.append(rows: rows)

        var scalars: [(tag: String, value: Float)] = [("train/loss", Float(loss))]
        for record in records {
            for metric in Metric.allCases {
                if let value = record.values[metric] {
                    scalars.append(("batch/\(record.probe)/\(metric.name)", Float(value)))
                }
            }
        }
        events?.addScalars(scalars, step: Int64(step))
    }

    /// TensorBoard scalars of one finished epoch: losses, accuracies and each probe's mean metrics.
    func addEpochScalars(_ result: EpochResult, step: Int) throws {
        var scalars: [(tag: String, value: Float)] = [
            ("epoch/train_loss", Float(result.trainLoss)),
            ("epoch/train_accuracy", Float(result.trainAccuracy)),
        ]
        if let testLoss = result.testLoss, let testAccuracy = result.testAccuracy {
            scalars.append(("epoch/test_loss", Float(testLoss)))
            scalars.append(("epoch/test_accuracy", Float(testAccuracy)))
        }
        for probe in result.probes {
            for metric in Metric.allCases {
                if let mean = probe[metric]?.mean, !mean.isNaN {
                    scalars.append(("epoch/\(probe.probe)/\(metric.name)_mean", Float(mean)))
                }
            }
        }
        events?.addScalars(scalars, step: Int64(result.epoch))
        try events?.flush()
    }

    /// Makes every row and event written so far durable.
    func flush() throws {
        try events?.flush()
    }

    /// Rewrites the per-epoch files from all finished epochs.
    /// - Parameter partial: the unfinished epoch's state, when a run stops mid-epoch; its rows
    ///   are not in `epochs.csv`, which holds finished epochs only.
    func writeEpochFiles(results: [EpochResult], partial: TrainingState?) throws {
        try writeEpochsCSV(results)
        let diagnoses = Diagnosis.diagnose(epochs: results, forwardOrder: forwardOrder, thresholds: configuration.thresholds)
        let figures = RunFigures(results: results, forwardOrder: forwardOrder, title: figureTitle)
        try figures.write(to: directory)
        try writeAtomically(RunSummary(configuration: configuration, results: results, diagnoses: diagnoses, forwardOrder: forwardOrder, dataOrigin: dataOrigin).markdown(), to: directory.summary)
        try RunReportPage(configuration: configuration, results: results, diagnoses: diagnoses, figures: figures, dataOrigin: dataOrigin).page().write(to: directory.report)
    }

    private var figureTitle: String {
        configuration.model.name + (configuration.model.skipConnections ? "" : " without skip connections")
    }

    private func writeEpochsCSV(_ results: [EpochResult]) throws {
        var rows: [[CSVValue]] = []
        for result in results {
            for probe in result.probes {
                var row: [CSVValue] = [
                    .integer(result.epoch), .text(probe.probe), .text(probe.path),
                    .double(result.trainLoss), .double(result.trainAccuracy),
                    result.testLoss.map(CSVValue.double) ?? .text(""),
                    result.testAccuracy.map(CSVValue.double) ?? .text(""),
                ]
                for metric in Metric.allCases {
                    let values = probe[metric]?.values ?? Array(repeating: .nan, count: MetricSummary.statisticNames.count)
                    row += values.map { $0.isNaN ? .text("") : .double($0) }
                }
                rows.append(row)
            }
        }
        try writeCSV(header: RunOutputs.epochHeader, rows: rows, to: directory.epochs)
    }
}

/// The content of `config.json`.
struct ConfigurationRecord: Codable {
    var gradscopeVersion: String
    var configuration: TrainingConfiguration
    /// The resolved probes (path and name) in the order of the CSV files.
    var probes: [ProbeTarget]
    var data: String
}
