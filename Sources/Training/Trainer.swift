import Datasets
import Foundation
import NeuralNetworks
import Probes
import Tensors

/// Receives what a run does, for display; the library itself never prints.
public protocol TrainingObserver: AnyObject {
    /// A one-line message about the run's set-up or outputs.
    func notice(_ message: String)
    /// Called after every training batch.
    func batchFinished(_ progress: BatchProgress)
    /// Called after every epoch, once its files are written.
    func epochFinished(_ result: EpochResult, of epochs: Int)
}

/// The progress of a run after one batch.
public struct BatchProgress: Sendable {
    /// 1-based epoch and batch numbers.
    public var epoch: Int
    public var epochs: Int
    public var batch: Int
    public var batchCount: Int
    public var loss: Double
    /// Training images per second over the recent batches.
    public var imagesPerSecond: Double
    /// Estimated seconds until the run ends, test passes excluded.
    public var secondsLeft: Double
}

/// The end of a run that stopped without an error.
public enum RunOutcome: Equatable, Sendable {
    case finished
    /// Stopped on request after finishing a batch; the results so far are written.
    case interrupted(epoch: Int, step: Int)
}

/// A run that stopped because the loss or a gradient was not finite.
public struct TrainingDivergedError: Error, CustomStringConvertible {
    public var epoch: Int
    public var step: Int
    public var loss: Double
    /// The first probed layer, in backward order, whose gradient was not finite.
    public var layer: ProbeTarget?
    public var runDirectory: URL

    public var description: String {
        let place = layer.map { "the first probed layer with a non-finite gradient (in backward order) is '\($0.name)'" + ($0.name == $0.path ? "" : " (\($0.path))") }
            ?? "no probed layer had a non-finite gradient"
        return "training diverged at epoch \(epoch), step \(step): loss is \(loss.isNaN ? "nan" : "\(loss)"), and \(place). Results up to this batch are in \(runDirectory.path). Lower --lr, or pass --continue-on-nonfinite to keep going."
    }
}

/// Trains a model on a data set with gradient probes, writing the run directory as it goes.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let runDirectory: RunDirectory
    public let model: Module
    public let optimizer: Optimizer
    public let probes: ProbeSet
    let trainLoader: DataLoader
    let testLoader: DataLoader?
    let outputs: RunOutputs
    var state: TrainingState
    private var generator: RandomGenerator

    /// Prepares a run: opens the data, builds the model (loading `weights` when given) and
    /// resolves the probes. Nothing is written until `run`; to continue a stopped run, call
    /// `Resumption.restore` before `run`.
    /// - Throws: configuration, data set, model, probe and file errors, each naming what is wrong.
    public init(configuration: TrainingConfiguration, runDirectory: RunDirectory, observer: TrainingObserver?) throws {
        try configuration.validate()
        self.configuration = configuration
        ConvolutionAlgorithm.current = configuration.convolutionAlgorithm ?? .automatic
        self.runDirectory = runDirectory

        let data = try TrainingData(configuration: configuration)
        trainLoader = data.trainLoader
        testLoader = data.testLoader
        for message in data.notices {
            observer?.notice(message)
        }

        var specification = configuration.model
        specification.inputShape = data.sampleShape
        if specification.numClasses < data.classCount {
            throw ConfigurationError("--num-classes is \(specification.numClasses), but \(data.origin) has \(data.classCount) classes; use --num-classes \(data.classCount) or more")
        }
        generator = RandomGenerator(seed: configuration.seed)
        var modelGenerator = generator.split()
        model = try ModelCatalog.makeModel(specification, generator: &modelGenerator)
        if let weights = configuration.weights {
            let report = try WeightLoader.load(URL(fileURLWithPath: weights), into: model, specification: specification)
            for message in report.notices {
                observer?.notice(message)
            }
        }

        let targets = try ProbeSelection.resolve(configuration.effectiveProbes, in: model)
        guard !targets.isEmpty else {
            throw ConfigurationError("--probe \(configuration.effectiveProbes.joined(separator: " ")) matches no layer of \(specification.name); see `gradscope inspect \(specification.name)` for its layers")
        }
        probes = ProbeSet(model: model, targets: targets)
        optimizer = Trainer.makeOptimizer(configuration, parameters: model.namedParameters())
        optimizer.trackedUpdateNames = probes.trackedWeightNames

        state = TrainingState()
        outputs = try RunOutputs(directory: runDirectory, configuration: configuration, targets: targets,
                                 forwardOrder: Trainer.forwardOrder(of: targets, in: model), dataOrigin: data.origin)
    }

    static func makeOptimizer(_ configuration: TrainingConfiguration, parameters: [(name: String, tensor: Tensor)]) -> Optimizer {
        let learningRate = Float(configuration.learningRate)
        let weightDecay = Float(configuration.weightDecay)
        switch configuration.optimizer {
        case .adam:
            return Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
        case .adamw:
            return Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
        case .sgd:
            return SGD(parameters: parameters, learningRate: learningRate, momentum: Float(configuration.momentum), weightDecay: weightDecay)
        }
    }

    /// Probe names sorted by the position of their layer in the model's module order (input side first).
    static func forwardOrder(of targets: [ProbeTarget], in model: Module) -> [String] {
        let positions = Dictionary(uniqueKeysWithValues: model.namedModules().enumerated().map { ($0.element.path, $0.offset) })
        return targets.sorted { positions[$0.path, default: 0] < positions[$1.path, default: 0] }.map(\.name)
    }

    /// Trains until the configured number of epochs, or until `shouldStop` returns true after a batch.
    ///
    /// - Throws: `TrainingDivergedError` on a non-finite loss or gradient, after writing the results
    ///   so far, unless configured to continue. Data and file errors are thrown as they occur.
    public func run(observer: TrainingObserver?, shouldStop: () -> Bool = { false }) throws -> RunOutcome {
        try outputs.start(resumingAt: state)
        let batchCount = trainLoader.batchCount
        var timer = ThroughputTimer()

        while state.epoch < configuration.epochs {
            let stream = trainLoader.batches(epoch: state.epoch, startingAt: state.batchInEpoch)
            defer { stream.cancel() }
            while let batch = try stream.next() {
                let loss = try trainStep(batch)
                timer.record(images: batch.labels.count)

                let stepsLeft = (configuration.epochs - state.epoch - 1) * batchCount + (batchCount - state.batchInEpoch)
                observer?.batchFinished(BatchProgress(
                    epoch: state.epoch + 1, epochs: configuration.epochs, batch: state.batchInEpoch, batchCount: batchCount,
                    loss: loss, imagesPerSecond: timer.imagesPerSecond,
                    secondsLeft: timer.secondsPerBatch * Double(stepsLeft)))

                if let every = configuration.checkpointEvery, state.step % every == 0, state.batchInEpoch < batchCount {
                    try saveCheckpoint()
                }
                if shouldStop() {
                    try outputs.flush()
                    try outputs.writeEpochFiles(results: state.results, partial: state)
                    try saveCheckpoint()
                    return .interrupted(epoch: state.epoch + 1, step: state.step)
                }
            }
            try finishEpoch(observer: observer)
        }
        return .finished
    }

    /// One optimisation step on `batch`; returns its loss.
    private func trainStep(_ batch: Batch) throws -> Double {
        model.setTraining(true)

        let logits = model(batch.images)
        let loss = crossEntropy(logits: logits, labels: batch.labels)
        let lossValue = Double(loss.item)
        // Dropping the last step's gradients only now hands their buffers to the backward pass,
        // which needs the same sizes, instead of leaving them idle through the forward pass.
        model.zeroGradients()
        loss.backward()
        probes.collectGradientMetrics()

        // NOTE: divergence is detected before the step, from the loss and the probed layers'
        // output and input gradients. A non-finite weight gradient alone shows in this step's
        // nonfinite_count, and it stops the run one step later, when the loss turns non-finite.
        let diverged = !lossValue.isFinite || probes.firstNonfiniteProbe != nil
        if !diverged || configuration.continueOnNonfinite {
            optimizer.step()
            probes.collectParameterMetrics(from: optimizer)
        } else {
            probes.collectParameterMetrics(from: nil)
        }

        state.step += 1
        state.batchInEpoch += 1
        let records = probes.takeRecords()
        state.accumulator.add(records)
        state.lossSum += lossValue * Double(batch.labels.count)
        state.correct += correctPredictions(logits, batch.labels)
        state.seen += batch.labels.count
        try outputs.appendBatch(epoch: state.epoch + 1, step: state.step, loss: lossValue, records: records)

        if diverged && !configuration.continueOnNonfinite {
            try outputs.flush()
            try outputs.writeEpochFiles(results: state.results, partial: state)
            throw TrainingDivergedError(epoch: state.epoch + 1, step: state.step, loss: lossValue,
                                        layer: firstNonfinite(records), runDirectory: runDirectory.url)
        }
        return lossValue
    }

    /// Finds the first probe, in the backward order of this step, whose record shows a non-finite value.
    private func firstNonfinite(_ records: [ProbeRecord]) -> ProbeTarget? {
        let order = Trainer.forwardOrder(of: probes.targets, in: model).reversed()
        for name in order {
            if let record = records.first(where: { $0.probe == name }), record[.nonfiniteCount] > 0 || !record[.gradOutputL2].isFinite {
                return ProbeTarget(path: record.path, name: record.probe)
            }
        }
        return nil
    }

    private func finishEpoch(observer: TrainingObserver?) throws {
        let test = try evaluate()
        let result = EpochResult(
            epoch: state.epoch + 1,
            trainLoss: state.seen > 0 ? state.lossSum / Double(state.seen) : .nan,
            trainAccuracy: state.seen > 0 ? Double(state.correct) / Double(state.seen) : .nan,
            testLoss: test?.loss, testAccuracy: test?.accuracy,
            probes: state.accumulator.summaries())
        state.results.append(result)
        state.beginEpoch(state.epoch + 1)

        try outputs.flush()
        try outputs.writeEpochFiles(results: state.results, partial: nil)
        try outputs.addEpochScalars(result, step: state.step)
        try saveCheckpoint()
        observer?.epochFinished(result, of: configuration.epochs)
    }

    /// Time of a forward and backward pass with and without the probes, measured on the first
    /// training batch in alternation (`repeats` of each, after one warm-up of each), without
    /// updating the weights. Gradients are cleared afterwards, so training is unchanged.
    ///
    /// The probed time covers the hooks and the gradient statistics. The parameter statistics are
    /// not in it: in training the optimizer gathers them in its update pass, at a cost that
    /// `Benchmarks/` measures (about 1% of a VGG19 step).
    public func measureProbeOverhead(repeats: Int) throws -> ProbeOverhead {
        let batch = try trainLoader.makeBatch(epoch: 0, batchIndex: 0)
        let savedBuffers = model.namedBuffers().map { ($0.tensor, $0.tensor.copy()) }
        var probed: [Double] = []
        var unprobed: [Double] = []
        model.setTraining(true)
        for index in 0..<(2 * (repeats + 1)) {
            let withProbes = index % 2 == 0
            if withProbes {
                probes.reattach()
            } else {
                probes.detach()
            }
            let start = ProcessInfo.processInfo.systemUptime
            model.zeroGradients()
            crossEntropy(logits: model(batch.images), labels: batch.labels).backward()
            if withProbes {
                probes.collectGradientMetrics()
            }
            let elapsed = ProcessInfo.processInfo.systemUptime - start
            if withProbes {
                // Untimed: without an optimizer step the probes read each weight and its
                // gradient again, which training leaves to the optimizer's own pass.
                probes.collectParameterMetrics(from: nil)
                _ = probes.takeRecords()
            }
            if index >= 2 {
                if withProbes {
                    probed.append(elapsed)
                } else {
                    unprobed.append(elapsed)
                }
            }
        }
        probes.reattach()
        model.zeroGradients()
        for (buffer, saved) in savedBuffers {
            buffer.assign(from: saved)
        }
        return ProbeOverhead(probedSeconds: MetricSummary(probed).median, unprobedSeconds: MetricSummary(unprobed).median, repeats: repeats)
    }

    /// Loss and accuracy on the test split in evaluation mode, or nil without one.
    func evaluate() throws -> (loss: Double, accuracy: Double)? {
        guard let testLoader, testLoader.sampleCount > 0 else {
            return nil
        }
        model.setTraining(false)
        probes.detach()
        defer {
            probes.reattach()
            model.setTraining(true)
        }

        var lossSum = 0.0
        var correct = 0
        var seen = 0
        let stream = testLoader.batches(epoch: 0)
        defer { stream.cancel() }
        while let batch = try stream.next() {
            let logits = GradientMode.withoutGradient { model(batch.images) }
            let loss = GradientMode.withoutGradient { crossEntropy(logits: logits, labels: batch.labels) }
            lossSum += Double(loss.item) * Double(batch.labels.count)
            correct += correctPredictions(logits, batch.labels)
            seen += batch.labels.count
        }
        return seen > 0 ? (lossSum / Double(seen), Double(correct) / Double(seen)) : nil
    }

    private func correctPredictions(_ logits: Tensor, _ labels: [Int]) -> Int {
        let classes = logits.shape[1]
        var correct = 0
        logits.withUnsafeBufferPointer { values in
            for (row, label) in labels.enumerated() {
                var best = 0
                for k in 1..<classes where values[row * classes + k] > values[row * classes + best] {
                    best = k
                }
                if best == label {
                    correct += 1
                }
            }
        }
        return correct
    }

    func saveCheckpoint() throws {
        try CheckpointStore(directory: runDirectory).save(trainer: self)
    }
}

/// The median time of a forward and backward pass with and without probes.
public struct ProbeOverhead: Sendable {
    public var probedSeconds: Double
    public var unprobedSeconds: Double
    public var repeats: Int

    /// The extra time probes take, as a fraction of an unprobed pass.
    public var fraction: Double {
        probedSeconds / unprobedSeconds - 1
    }
}

/// The position of a run in its data, the counters of the current epoch and the results so far.
struct TrainingState: Codable {
    /// 0-based epoch being trained, and batches of it done.
    var epoch = 0
    var batchInEpoch = 0
    /// Optimisation steps done in the whole run.
    var step = 0
    var accumulator = EpochAccumulator()
    var lossSum = 0.0
    var correct = 0
    var seen = 0
    var results: [EpochResult] = []

    mutating func beginEpoch(_ epoch: Int) {
        self.epoch = epoch
        batchInEpoch = 0
        accumulator = EpochAccumulator()
        lossSum = 0
        correct = 0
        seen = 0
    }
}

/// Images per second and seconds per batch over a window of recent batches.
struct ThroughputTimer {
    private var samples: [(time: Double, images: Int)] = []
    private var last = ProcessInfo.processInfo.systemUptime

    mutating func record(images: Int) {
        let now = ProcessInfo.processInfo.systemUptime
        samples.append((now - last, images))
        last = now
        if samples.count > 20 {
            samples.removeFirst()
        }
    }

    var secondsPerBatch: Double {
        samples.isEmpty ? 0 : samples.map(\.time).reduce(0, +) / Double(samples.count)
    }

    var imagesPerSecond: Double {
        let time = samples.map(\.time).reduce(0, +)
        return time > 0 ? Double(samples.map(\.images).reduce(0, +)) / time : 0
    }
}
