import FileSupport
import Foundation
import Probes
import Reports

/// A run directory read back for comparison: its configuration, per-epoch probe means and profile.
public struct RunRecord: Sendable {
    public var directory: URL
    public var label: String
    public var configuration: TrainingConfiguration
    /// Probe names in the order of `epochs.csv`, with their paths.
    public var probes: [ProbeTarget]
    /// Mean `grad_output_l2` per probed layer path, one value per epoch.
    public var gradientMeans: [String: [Double]]
    /// Mean `grad_output_rms` per probed layer path in the last epoch.
    public var lastRMS: [String: Double]
    public var trainLoss: [Double]
    public var testAccuracy: [Double?]
    public var profile: GradientProfile?

    /// Reads `config.json`, `epochs.csv` and, when present, `profile.json`.
    /// - Throws: `ConfigurationError` naming the directory and the missing or unreadable file.
    public init(directory: URL) throws {
        self.directory = directory
        let profileURL = directory.appendingPathComponent("profile.json")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if let data = try? Data(contentsOf: profileURL) {
            do {
                profile = try decoder.decode(GradientProfile.self, from: data)
            } catch {
                throw ConfigurationError("\(profileURL.path) is unreadable (\(error)); run gradscope profile again")
            }
        }

        let configURL = directory.appendingPathComponent("config.json")
        guard let configData = try? Data(contentsOf: configURL) else {
            throw ConfigurationError("\(directory.path) is not a GradScope run: \(configURL.lastPathComponent) is missing")
        }
        let record: ConfigurationRecord
        do {
            record = try JSONDecoder().decode(ConfigurationRecord.self, from: configData)
        } catch {
            throw ConfigurationError("\(configURL.path) is unreadable (\(error))")
        }
        configuration = record.configuration
        probes = record.probes
        label = directory.lastPathComponent

        gradientMeans = [:]
        lastRMS = [:]
        trainLoss = []
        testAccuracy = []
        let epochsURL = directory.appendingPathComponent("epochs.csv")
        guard let text = try? String(contentsOf: epochsURL, encoding: .utf8) else {
            if profile != nil {
                return
            }
            throw ConfigurationError("\(directory.path) has no epochs.csv; compare needs runs with at least one finished epoch")
        }
        let rows = try parseCSV(text, path: epochsURL.path)
        guard let header = rows.first, let meanColumn = header.firstIndex(of: "grad_output_l2_mean"),
              let rmsColumn = header.firstIndex(of: "grad_output_rms_mean") else {
            throw ConfigurationError("\(epochsURL.path) lacks the grad_output_l2_mean column; it was not written by gradscope train")
        }
        var lastEpoch = 0
        for row in rows.dropFirst() where row.count == header.count {
            let epoch = Int(row[0]) ?? 0
            let path = row[2]
            gradientMeans[path, default: []].append(Double(row[meanColumn]) ?? .nan)
            if epoch >= lastEpoch {
                lastRMS[path] = Double(row[rmsColumn]) ?? .nan
            }
            if epoch > lastEpoch {
                lastEpoch = epoch
                trainLoss.append(Double(row[3]) ?? .nan)
                testAccuracy.append(Double(row[6]))
            }
        }
    }
}

/// Overlays the same probes of several runs, with a table and a written reading of the differences.
public struct RunComparison {
    public let runs: [RunRecord]

    /// Layer paths probed in every run, in the first run's order. Runs are matched by path, so
    /// `conv1=features.0` in one run and `features.0` in another are the same layer.
    public var sharedProbes: [String] {
        guard let first = runs.first else {
            return []
        }
        return first.probes.map(\.path).filter { path in runs.allSatisfy { run in run.probes.contains { $0.path == path } } }
    }

    /// Every probed path of any run, in the order the runs list them.
    private var allPaths: [String] {
        RunComparison.mergedOrder(runs.map { $0.probes.map(\.path) })
    }

    /// Runs lacking some layer that another run probes, with the missing paths in forward order.
    public var missingProbes: [(run: String, probes: [String])] {
        let all = allPaths
        return runs.compactMap { run in
            let own = Set(run.probes.map(\.path))
            let missing = all.filter { !own.contains($0) }
            return missing.isEmpty ? nil : (run.label, missing)
        }
    }

    /// Merges path lists that are each in forward order into one list in forward order, placing a
    /// path missing from earlier lists right after its predecessor in its own list.
    public static func mergedOrder(_ lists: [[String]]) -> [String] {
        var merged: [String] = []
        for list in lists {
            var insertion = 0
            for path in list {
                if let position = merged.firstIndex(of: path) {
                    insertion = position + 1
                } else {
                    merged.insert(path, at: insertion)
                    insertion += 1
                }
            }
        }
        return merged
    }

    /// The name a shared layer has in the table: its path, with the first run's probe name when that differs.
    private func displayName(_ path: String) -> String {
        guard let name = runs.first?.probes.first(where: { $0.path == path })?.name, name != path else {
            return path
        }
        return "\(name) (\(path))"
    }

    public init(runs: [RunRecord]) {
        var labelled = runs
        // Runs of the same folder name (e.g. two "latest") get their parent folder as a prefix.
        let labels = labelled.map(\.label)
        for index in labelled.indices where labels.filter({ $0 == labels[index] }).count > 1 {
            labelled[index].label = labelled[index].directory.deletingLastPathComponent().lastPathComponent + "/" + labels[index]
        }
        self.runs = labelled
    }

    /// Writes `comparison.md`, `comparison.csv`, `gradients.png`/`.svg`, `profile.png`/`.svg` (when
    /// every run has a profile) and `report.html` into `directory`; returns the Markdown text.
    public func write(to directory: RunDirectory) throws -> String {
        try directory.create()
        let shared = sharedProbes
        let header = ["probe"] + runs.map { "\($0.label) \(valueName($0))" } + (runs.count == 2 ? ["ratio (second/first)"] : [])
        var rows: [[String]] = []
        var csvRows: [[CSVValue]] = []
        for probe in shared {
            let values = runs.map { tableValue($0, probe) }
            var row = [displayName(probe)] + values.map { Diagnosis.format($0) }
            if runs.count == 2 {
                row.append(Diagnosis.format(values[1] / values[0]))
            }
            rows.append(row)
            csvRows.append([.text(probe)] + values.map(CSVValue.double))
        }
        try writeCSV(header: ["probe"] + runs.map(\.label), rows: csvRows, to: directory.file("comparison.csv"))

        var charts: [HTMLReport.Block] = []
        if !shared.isEmpty && runs.contains(where: { !$0.gradientMeans.isEmpty }) {
            // Many layers get lines for the first, a middle and the last shared layer only; the
            // depth chart below shows all of them.
            let overlaid = shared.count > 4 ? RunFigures.spread(shared, count: 3) : shared
            var series: [Series] = []
            for run in runs {
                for probe in overlaid {
                    series.append(Series(name: "\(run.label): \(displayName(probe))", values: run.gradientMeans[probe] ?? []))
                }
            }
            let chart = LineChart(title: "Mean gradient norm per epoch", xLabel: "epoch", yLabel: "mean ‖grad_output‖", series: series, logScaleY: true)
            try chart.write(to: directory.gradientsPNG)
            try chart.write(to: directory.gradientsSVG)
            charts.append(.chart(svg: try chart.svgString(), caption: "Shared layers of each run, per epoch (log scale)."))

            if shared.count >= 3 {
                let depthSeries = runs.map { run in
                    Series(name: run.label, points: shared.enumerated().map { (x: Double($0.offset), y: run.lastRMS[$0.element] ?? .nan) })
                }
                let depth = LineChart(
                    title: "Last-epoch gradient RMS through depth", xLabel: "layer (forward order)", yLabel: "mean gradient RMS",
                    series: depthSeries, logScaleY: true, xTickLabels: shared, width: 1000, height: 560)
                try depth.write(to: directory.file("depth.png"))
                try depth.write(to: directory.file("depth.svg"))
                charts.append(.chart(svg: try depth.svgString(), caption: "Each run's last-epoch mean gradient RMS per shared layer, input side on the left (log scale)."))
            }
        }
        let profiles = runs.compactMap(\.profile)
        if profiles.count == runs.count {
            let chart = ProfileFiles.chart(profiles, labels: runs.map(\.label), title: "Gradient RMS through depth")
            try chart.write(to: directory.file("profile.png"))
            try chart.write(to: directory.file("profile.svg"))
            charts.append(.chart(svg: try chart.svgString(), caption: "Mean gradient RMS per layer, input side on the left (log scale)."))
        }

        let reading = readings()
        var markdown = "# Comparison of \(runs.count) runs\n\n"
        markdown += runs.map { "- **\($0.label)**: \(describe($0))" }.joined(separator: "\n") + "\n\n"
        markdown += reading.map { "- \($0)" }.joined(separator: "\n") + "\n\n"
        if !rows.isEmpty {
            let alignments: [MarkdownTable.Alignment] = [.left] + Array(repeating: .right, count: header.count - 1)
            markdown += MarkdownTable(header: header, rows: rows, alignments: alignments).render() + "\n"
        }
        try writeAtomically(markdown, to: directory.file("comparison.md"))

        var page = HTMLReport(title: "GradScope comparison", subtitle: runs.map(\.label).joined(separator: " · "))
        page.addSection(title: "Reading", blocks: reading.map { .paragraph($0) })
        page.addSection(title: "Runs", blocks: [.keyValues(runs.map { (key: $0.label, value: describe($0)) })])
        if !charts.isEmpty {
            page.addSection(title: "Gradient flow", blocks: charts)
        }
        if !rows.isEmpty {
            page.addSection(title: "Side by side", blocks: [.table(header: header, rows: rows)])
        }
        try page.write(to: directory.report)
        return markdown
    }

    /// Whether some run is a profile without epochs. The table then compares gradient RMS, the
    /// one metric that profiles and training runs both record.
    private var comparesRMS: Bool {
        runs.contains { $0.gradientMeans.isEmpty && $0.profile != nil }
    }

    /// A run's value for a probe in the table: the last epoch's mean gradient norm of a training
    /// run, or, when a profile takes part, the last epoch's mean gradient RMS of a training run
    /// and the gradient RMS of a profile.
    private func tableValue(_ run: RunRecord, _ probe: String) -> Double {
        guard comparesRMS else {
            return run.gradientMeans[probe]?.last ?? .nan
        }
        if let rms = run.lastRMS[probe] {
            return rms
        }
        return run.profile?.layers.first { $0.path == probe }?.gradOutputRMS ?? .nan
    }

    private func valueName(_ run: RunRecord) -> String {
        guard comparesRMS else {
            return "last-epoch mean grad norm"
        }
        return run.gradientMeans.isEmpty ? "profile grad RMS" : "last-epoch mean grad RMS"
    }

    private func describe(_ run: RunRecord) -> String {
        let model = run.configuration.model.name + (run.configuration.model.skipConnections ? "" : " (no skip)")
        let kind = run.gradientMeans.isEmpty && run.profile != nil ? "profile of \(run.profile!.batches) batches" : "\(run.gradientMeans.values.first?.count ?? 0) epochs"
        // A profile takes no optimizer step, so its optimizer settings are left out.
        let optimizer = run.profile != nil && run.gradientMeans.isEmpty ? "" : ", \(run.configuration.optimizer.rawValue) lr \(run.configuration.learningRate)"
        var text = "\(model), \(kind)\(optimizer)"
        if let accuracy = run.testAccuracy.last.flatMap({ $0 }) {
            text += ", test accuracy \(String(format: "%.1f%%", accuracy * 100))"
        }
        if let ratio = run.profile?.firstToLastRatio {
            text += ", profile first/last RMS \(Diagnosis.format(ratio))"
        }
        return text
    }

    /// Sentences on what differs: missing probes, per-probe differences, and input-to-output decay.
    func readings() -> [String] {
        var lines: [String] = []
        let models = runs.map { $0.configuration.model.name }
        if Set(models).count > 1 {
            lines.append("The runs use different models (\(models.joined(separator: ", "))); layers are matched by path, so a shared path may name layers of different sizes and depths.")
        }
        for (run, probes) in missingProbes {
            lines.append("\(run) lacks the layers \(probes.joined(separator: ", ")); the comparison uses the \(sharedProbes.count) layers all runs probed.")
        }
        if runs.count >= 2 {
            let first = runs[0]
            for other in runs.dropFirst() {
                if let a = decay(first), let b = decay(other) {
                    lines.append("Input-side over output-side gradient RMS (last epoch): \(first.label) \(Diagnosis.format(a)), \(other.label) \(Diagnosis.format(b)); the gradient reaching the input layer is \(Diagnosis.format(b / a))× as strong in \(other.label).")
                }
                if let a = first.profile?.firstToLastRatio, let b = other.profile?.firstToLastRatio {
                    let change = b < a ? "the first layer receives \(Diagnosis.format(a / b))× less gradient, relative to the last, in \(other.label)" : "the first layer receives \(Diagnosis.format(b / a))× more gradient, relative to the last, in \(other.label)"
                    lines.append("Depth profile, first-layer over last-layer gradient RMS: \(first.label) \(Diagnosis.format(a)), \(other.label) \(Diagnosis.format(b)); \(change).")
                    lines.append("Towards the input, the gradient \(trend(a, first)) in \(first.label) and \(trend(b, other)) in \(other.label).")
                }
                var differing: [(probe: String, ratio: Double)] = []
                for probe in sharedProbes {
                    let a = tableValue(first, probe)
                    let b = tableValue(other, probe)
                    if a > 0, b > 0, b / a > 3 || b / a < 1.0 / 3 {
                        differing.append((probe, b / a))
                    }
                }
                differing.sort { abs(Foundation.log($0.ratio)) > abs(Foundation.log($1.ratio)) }
                for (probe, ratio) in differing.prefix(5) {
                    lines.append("\(displayName(probe)): \(valueName(other)) is \(Diagnosis.format(ratio))× in \(other.label) compared with \(first.label).")
                }
                if differing.count > 5 {
                    lines.append("\(differing.count - 5) more layers differ by more than 3× (see the table).")
                }
            }
        }
        if lines.isEmpty {
            lines.append("The shared probes differ by less than a factor of 3 between the runs.")
        }
        return lines
    }

    /// Names what a first-over-last gradient ratio means, against the run's own thresholds.
    private func trend(_ ratio: Double, _ run: RunRecord) -> String {
        let thresholds = run.configuration.thresholds
        if ratio >= thresholds.explodingRatio {
            return "explodes (grows \(Diagnosis.format(ratio))×, beyond the \(Diagnosis.format(thresholds.explodingRatio))× threshold)"
        }
        if ratio <= thresholds.vanishingRatio {
            return "vanishes (falls to \(Diagnosis.format(ratio))×, below the \(Diagnosis.format(thresholds.vanishingRatio))× threshold)"
        }
        return ratio >= 1 ? "grows \(Diagnosis.format(ratio))× (within the thresholds)" : "falls to \(Diagnosis.format(ratio))× (within the thresholds)"
    }

    /// First shared probe's last-epoch RMS over the last shared probe's, in forward order.
    private func decay(_ run: RunRecord) -> Double? {
        let ordered = sharedProbes
        guard let first = ordered.first, let last = ordered.last, first != last,
              let a = run.lastRMS[first], let b = run.lastRMS[last], b > 0 else {
            return nil
        }
        return a / b
    }
}
