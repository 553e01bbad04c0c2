import Foundation
import NeuralNetworks

/// Continuing a stopped run, or extending a finished one, from its `config.json` and checkpoint.
public enum Resumption {
    /// Reads the configuration a run directory was started with.
    /// - Throws: `CheckpointMismatchError` when `config.json` is missing or unreadable.
    public static func storedConfiguration(in directory: RunDirectory) throws -> TrainingConfiguration {
        guard let data = try? Data(contentsOf: directory.configuration) else {
            throw CheckpointMismatchError(message: "--resume \(directory.url.path): no config.json there; give the directory of a run started with gradscope train")
        }
        do {
            return try JSONDecoder().decode(ConfigurationRecord.self, from: data).configuration
        } catch {
            throw CheckpointMismatchError(message: "--resume \(directory.url.path): config.json is corrupt or from another version (\(error))")
        }
    }

    /// Each option's value as text, by option name, for comparing a resumed run's options with the stored ones.
    static let optionValues: [String: (TrainingConfiguration) -> String] = [
        "--model": { $0.model.name },
        "--no-skip": { String(!$0.model.skipConnections) },
        "--depth": { String($0.model.depth) },
        "--width": { String($0.model.width) },
        "--activation": { $0.model.activation.rawValue },
        "--num-classes": { String($0.model.numClasses) },
        "--dropout": { String($0.model.dropout) },
        "--weights": { $0.weights ?? "(none)" },
        "--data": { $0.data ?? "(built-in synthetic)" },
        "--image-size": { $0.imageSize.map(String.init) ?? "(native)" },
        "--normalize": { String($0.normalize) },
        "--batch-size": { String($0.batchSize) },
        "--optimizer": { $0.optimizer.rawValue },
        "--lr": { String($0.learningRate) },
        "--momentum": { String($0.momentum) },
        "--weight-decay": { String($0.weightDecay) },
        "--seed": { String($0.seed) },
        "--no-shuffle": { String(!$0.shuffle) },
        "--limit-train": { $0.limitTrain.map(String.init) ?? "(all)" },
        "--limit-test": { $0.limitTest.map(String.init) ?? "(all)" },
        "--synthetic-size": { String($0.syntheticTrainCount) },
        "--probe": { $0.probes.joined(separator: " ") },
        "--convolution-algorithm": { ($0.convolutionAlgorithm ?? .automatic).rawValue },
    ]

    /// Model options that only one model family reads. Given for a run of another family they
    /// were ignored when it started, so they are ignored on resume too.
    static let familyOptions: [String: ModelSpecification.Family] = [
        "--no-skip": .resnet, "--dropout": .vgg, "--depth": .mlp, "--width": .mlp, "--activation": .mlp,
    ]

    /// Returns the stored configuration, with the options that may change on resume (`--epochs` upwards,
    /// `--checkpoint-every`, `--continue-on-nonfinite` and the diagnosis thresholds) taken from `given`.
    /// - Throws: `ConfigurationError` naming an option given with another value than the run's,
    ///   with both values, or a `--epochs` below the epochs already done.
    public static func merge(stored: TrainingConfiguration, given: TrainingConfiguration, givenOptions: Set<String>) throws -> TrainingConfiguration {
        for option in givenOptions.sorted() {
            guard let value = optionValues[option] else {
                continue
            }
            if let family = familyOptions[option], family != stored.model.family {
                continue
            }
            let storedValue = value(stored)
            let givenValue = value(given)
            if storedValue != givenValue {
                throw ConfigurationError("\(option) is \(givenValue) here but the run was started with \(storedValue); leave it out when resuming, or start a new run")
            }
        }

        var merged = stored
        if givenOptions.contains("--epochs") {
            merged.epochs = given.epochs
        }
        if givenOptions.contains("--checkpoint-every") {
            merged.checkpointEvery = given.checkpointEvery
        }
        if givenOptions.contains("--continue-on-nonfinite") {
            merged.continueOnNonfinite = true
        }
        for option in ["--vanishing-ratio", "--exploding-ratio", "--stalled-ratio", "--dead-fraction"] where givenOptions.contains(option) {
            merged.thresholds = given.thresholds
        }
        return merged
    }

    /// Loads the run's checkpoint into `trainer`; returns the 1-based epoch and the step it continues from.
    /// - Throws: `CheckpointMismatchError` for a missing, corrupt or foreign checkpoint, or when
    ///   `--epochs` is below the epochs already finished.
    public static func restore(_ trainer: Trainer) throws -> (epoch: Int, step: Int) {
        let store = CheckpointStore(directory: trainer.runDirectory)
        if !FileManager.default.fileExists(atPath: store.stateURL.path) {
            // A run that stopped before its first checkpoint starts again from step 0; its
            // per-batch rows are dropped when the run restarts.
            return (1, 0)
        }
        let state = try store.loadState(modelName: trainer.configuration.model.name)
        try checkEpochs(trainer.configuration.epochs, finished: state.training.results.count)
        try store.restore(state, into: trainer)
        return (state.training.epoch + 1, state.training.step)
    }

    /// Checks, from `state.json` alone and so before any data is loaded, that the epochs in
    /// `configuration` are at least the epochs the run in `directory` has finished.
    /// - Throws: `CheckpointMismatchError` when `--epochs` is below them, or for a corrupt or
    ///   foreign `state.json`.
    public static func checkEpochs(_ configuration: TrainingConfiguration, in directory: RunDirectory) throws {
        let store = CheckpointStore(directory: directory)
        guard FileManager.default.fileExists(atPath: store.stateURL.path) else {
            return
        }
        let state = try store.loadState(modelName: configuration.model.name)
        try checkEpochs(configuration.epochs, finished: state.training.results.count)
    }

    private static func checkEpochs(_ epochs: Int, finished: Int) throws {
        if finished > epochs {
            throw CheckpointMismatchError(message: "--epochs \(epochs) is below the \(finished) epochs this run has finished; give --epochs \(finished) or more")
        }
    }

    /// Returns whether a restored run has already trained every configured epoch.
    public static func isFinished(_ trainer: Trainer) -> Bool {
        trainer.state.epoch >= trainer.configuration.epochs
    }
}
