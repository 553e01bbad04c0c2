import Datasets
import FileSupport
import Foundation
import NeuralNetworks
import Probes
import Reports
import Tensors

/// What `gradscope profile` measures and where it writes.
public struct ProfileConfiguration: Sendable {
    public var training = TrainingConfiguration()
    /// Batches whose gradients are averaged into the profile.
    public var batches = 4
    /// Optimizer steps taken before profiling, to profile a partly trained network.
    public var trainSteps = 0
    /// Whether the profiled batches also update the weights.
    public var update = false

    public init() {}
}

/// One layer of a depth profile, input side first.
public struct LayerProfile: Codable, Equatable, Sendable {
    public var index: Int
    public var path: String
    public var type: String
    /// Mean over the profiled batches.
    public var gradOutputRMS: Double
    public var gradOutputL2: Double
    public var weightGradL2: Double
    /// `gradOutputRMS` of this layer over that of the next main-path layer, towards the output.
    /// Nil for the last layer and for shortcut layers (`downsample`), because they feed no next row.
    public var gain: Double?
}

/// A depth profile: every convolution and linear layer's gradient on a few batches, in forward order.
public struct GradientProfile: Codable, Sendable {
    public var model: String
    public var skipConnections: Bool
    public var data: String
    public var batches: Int
    public var trainSteps: Int
    public var layers: [LayerProfile]

    /// First layer's gradient RMS over the last layer's: how much the gradient shrinks (below 1)
    /// or grows from the output back to the input.
    public var firstToLastRatio: Double? {
        guard let first = layers.first?.gradOutputRMS, let last = layers.last?.gradOutputRMS, last > 0 else {
            return nil
        }
        return first / last
    }

    /// The model, e.g. "resnet50 without skip connections".
    public var modelTitle: String {
        "\(model)\(skipConnections ? "" : " without skip connections")"
    }

    public var title: String {
        "\(modelTitle) on \(data)"
    }
}

/// Runs a few batches through a model with every convolution and linear layer probed.
public enum Profiler {
    /// Returns, for layers in forward order, each main-path layer's RMS over that of the next
    /// main-path layer. Shortcut layers (a `downsample` path) run beside the main path, so they
    /// and the last main-path layer get nil, as does a next layer whose RMS is not positive.
    static func gains(paths: [String], rms: [Double]) -> [Double?] {
        var gains = [Double?](repeating: nil, count: paths.count)
        let mainPath = paths.indices.filter { !paths[$0].split(separator: ".").contains("downsample") }
        for (current, next) in zip(mainPath, mainPath.dropFirst()) where rms[next] > 0 {
            gains[current] = rms[current] / rms[next]
        }
        return gains
    }

    /// Measures the depth profile and writes `profile.csv`, `profile.md`, `profile.png`,
    /// `profile.svg`, `profile.json` and `report.html` into `directory`.
    /// - Throws: configuration, data, model and file errors, each naming what is wrong.
    public static func run(_ configuration: ProfileConfiguration, directory: RunDirectory, observer: TrainingObserver?) throws -> GradientProfile {
        var training = configuration.training
        training.probes = ["all"]
        training.epochs = 1
        training.limitTest = 0
        if training.limitTrain == nil {
            training.limitTrain = (configuration.batches + configuration.trainSteps) * training.batchSize
        }
        try directory.create()
        let trainer = try Trainer(configuration: training, runDirectory: directory, observer: observer)
        try trainer.outputs.writeConfiguration()
        let model = trainer.model
        let loader = trainer.trainLoader

        trainer.probes.detach()
        model.setTraining(true)
        var batchIndex = 0
        for _ in 0..<configuration.trainSteps {
            let batch = try loader.makeBatch(epoch: 0, batchIndex: batchIndex % loader.batchCount)
            batchIndex += 1
            model.zeroGradients()
            crossEntropy(logits: model(batch.images), labels: batch.labels).backward()
            trainer.optimizer.step()
        }

        trainer.probes.reattach()
        var accumulator = EpochAccumulator()
        for _ in 0..<configuration.batches {
            let batch = try loader.makeBatch(epoch: 0, batchIndex: batchIndex % loader.batchCount)
            batchIndex += 1
            model.zeroGradients()
            crossEntropy(logits: model(batch.images), labels: batch.labels).backward()
            trainer.probes.collectGradientMetrics()
            if configuration.update {
                trainer.optimizer.step()
            }
            trainer.probes.collectParameterMetrics(from: configuration.update ? trainer.optimizer : nil)
            accumulator.add(trainer.probes.takeRecords())
        }

        let summaries = accumulator.summaries()
        let order = Trainer.forwardOrder(of: trainer.probes.targets, in: model)
        var layers: [LayerProfile] = []
        for (index, name) in order.enumerated() {
            guard let summary = summaries.first(where: { $0.probe == name }) else {
                continue
            }
            layers.append(LayerProfile(
                index: index, path: summary.path, type: model.module(at: summary.path)?.typeDescription ?? "?",
                gradOutputRMS: summary[.gradOutputRMS]?.mean ?? .nan, gradOutputL2: summary[.gradOutputL2]?.mean ?? .nan,
                weightGradL2: summary[.weightGradL2]?.mean ?? .nan, gain: nil))
        }
        let gains = Profiler.gains(paths: layers.map(\.path), rms: layers.map(\.gradOutputRMS))
        for index in layers.indices {
            layers[index].gain = gains[index]
        }

        let profile = GradientProfile(
            model: training.model.name, skipConnections: training.model.skipConnections, data: trainer.outputs.dataOrigin,
            batches: configuration.batches, trainSteps: configuration.trainSteps, layers: layers)
        try ProfileFiles(profile: profile, directory: directory).write()
        return profile
    }
}

/// The files of a profile: CSV, Markdown, chart and HTML page.
struct ProfileFiles {
    let profile: GradientProfile
    let directory: RunDirectory

    static let header = ["index", "path", "type", "grad_output_rms", "grad_output_l2", "weight_grad_l2", "gain"]

    func write() throws {
        let rows: [[CSVValue]] = profile.layers.map { layer in
            [.integer(layer.index), .text(layer.path), .text(layer.type), .double(layer.gradOutputRMS),
             .double(layer.gradOutputL2), .double(layer.weightGradL2), layer.gain.map(CSVValue.double) ?? .text("")]
        }
        try writeCSV(header: ProfileFiles.header, rows: rows, to: directory.file("profile.csv"))

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeAtomically(try encoder.encode(profile), to: directory.file("profile.json"))

        let chart = ProfileFiles.chart([profile], title: "Gradient RMS through depth — \(profile.modelTitle)")
        try chart.write(to: directory.file("profile.png"))
        try chart.write(to: directory.file("profile.svg"))
        try writeAtomically(markdown(), to: directory.file("profile.md"))

        var page = HTMLReport(title: "GradScope profile: \(profile.title)",
                              subtitle: "\(profile.layers.count) layers · \(profile.batches) batches · \(profile.trainSteps) training steps before")
        page.addSection(title: "Reading", blocks: [.paragraph(reading())])
        page.addSection(title: "Gradient RMS through depth", blocks: [.chart(svg: try chart.svgString(), caption: "Mean gradient RMS per layer, input side on the left, log scale.")])
        page.addSection(title: "Layers", blocks: [.table(header: ProfileFiles.header, rows: profile.layers.map(textRow))])
        try page.write(to: directory.report)
    }

    /// Draws gradient RMS against depth for one or more profiles. Layers are placed by path on
    /// one axis in forward order, so profiles with different layers (with and without shortcut
    /// convolutions) line up layer by layer.
    static func chart(_ profiles: [GradientProfile], labels: [String]? = nil, title: String) -> LineChart {
        let order = RunComparison.mergedOrder(profiles.map { $0.layers.map(\.path) })
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($0.element, Double($0.offset)) })
        let series = profiles.enumerated().map { index, profile in
            Series(name: profiles.count == 1 ? "grad_output_rms" : labels?[index] ?? profile.modelTitle,
                   points: profile.layers.map { (x: position[$0.path]!, y: $0.gradOutputRMS) })
        }
        return LineChart(
            title: title, xLabel: "layer (forward order)", yLabel: "mean gradient RMS", series: series,
            logScaleY: true, xTickLabels: order, width: 1000, height: 560)
    }

    func reading() -> String {
        guard let ratio = profile.firstToLastRatio, let first = profile.layers.first, let last = profile.layers.last else {
            return "No layer received a gradient."
        }
        let direction = ratio < 1 ? "shrinks by \(Diagnosis.format(1 / ratio))×" : "grows by \(Diagnosis.format(ratio))×"
        let gains = profile.layers.compactMap(\.gain)
        let smallest = gains.min().map { Diagnosis.format($0) } ?? "—"
        let largest = gains.max().map { Diagnosis.format($0) } ?? "—"
        return "From the last layer (\(last.path)) back to the first (\(first.path)) the gradient RMS \(direction) (first/last = \(Diagnosis.format(ratio))). Layer-to-layer gains range from \(smallest) to \(largest)."
    }

    private func textRow(_ layer: LayerProfile) -> [String] {
        [String(layer.index), layer.path, layer.type, Diagnosis.format(layer.gradOutputRMS), Diagnosis.format(layer.gradOutputL2),
         Diagnosis.format(layer.weightGradL2), layer.gain.map { Diagnosis.format($0) } ?? "—"]
    }

    func markdown() -> String {
        let table = MarkdownTable(header: ["#", "layer", "grad RMS", "grad L2", "weight grad L2", "gain"],
                                  rows: profile.layers.map { textRow($0) }.map { [$0[0], "`\($0[1])`", $0[3], $0[4], $0[5], $0[6]] },
                                  alignments: [.right, .left, .right, .right, .right, .right])
        return "# Gradient profile: \(profile.title)\n\n\(reading())\n\nGain is a layer's gradient RMS over the next layer's (towards the output).\n\n\(table.render())\n"
    }
}
