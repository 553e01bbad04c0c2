import Dispatch
import Foundation
import NeuralNetworks
import Probes
import Tensors
import Training

struct TrainCommand: Command {
    let spec = CommandSpec(
        name: "train",
        abstract: "Train a model and record, layer by layer, how its gradients flow.",
        options: modelOptions + dataOptions + [
            OptionSpec(name: "--epochs", valueName: "N", help: "Epochs to train (default 10)."),
            OptionSpec(name: "--optimizer", valueName: "NAME", help: "adam, adamw or sgd (default adam)."),
            OptionSpec(name: "--lr", valueName: "RATE", help: "Learning rate (default 1e-4)."),
            OptionSpec(name: "--momentum", valueName: "M", help: "SGD momentum (default 0)."),
            OptionSpec(name: "--weight-decay", valueName: "W", help: "Weight decay (default 0; L2 for adam and sgd, decoupled for adamw)."),
            OptionSpec(name: "--no-shuffle", help: "Keep the data's order instead of shuffling every epoch."),
            OptionSpec(name: "--limit-train", valueName: "N", help: "Use only the first N training images."),
            OptionSpec(name: "--limit-test", valueName: "N", help: "Use only the first N test images (0 skips testing)."),
            OptionSpec(name: "--probe", valueName: "PATH[=NAME]", help: "Layer to probe by torchvision path, or all-conv, all-linear, all, vgg-blocks (default: vgg-blocks for VGG, the original study's four layers, at the same places in every VGG; all for others).", repeatable: true),
            OptionSpec(name: "--out", valueName: "DIR", help: "Run directory (default runs/MODEL-DATE-TIME)."),
            OptionSpec(name: "--resume", valueName: "RUN_DIR", help: "Continue a stopped run, or extend a finished one with a larger --epochs."),
            OptionSpec(name: "--checkpoint-every", valueName: "N", help: "Also checkpoint every N steps (default: at the end of each epoch)."),
            OptionSpec(name: "--continue-on-nonfinite", help: "Keep training when the loss or a gradient is NaN or infinite."),
            OptionSpec(name: "--probe-overhead", valueName: "N", help: "Before training, time N forward-backward passes with and N without probes, and report the difference."),
            OptionSpec(name: "--vanishing-ratio", valueName: "R", help: "Diagnosis: vanishing below R times the output side's gradient RMS (default 0.01)."),
            OptionSpec(name: "--exploding-ratio", valueName: "R", help: "Diagnosis: exploding above R times the output side's gradient RMS (default 100)."),
            OptionSpec(name: "--stalled-ratio", valueName: "R", help: "Diagnosis: stalled below this median update/weight ratio (default 1e-5)."),
            OptionSpec(name: "--dead-fraction", valueName: "F", help: "Diagnosis: dead units above this fraction of zero gradients (default 0.95)."),
        ],
        discussion: """
            The defaults repeat the classic VGG19 study: 10 classes, Adam at 1e-4, batch 32, shuffled, with probes
            on features.0=conv1, features.10=conv_mid, features.28=conv_deep and classifier.0=fc1.
            Ctrl-C finishes the current batch, writes every file and says where they are.
            """)

    func run(_ arguments: ParsedArguments) throws {
        var configuration: TrainingConfiguration
        let directory: RunDirectory
        let resuming = arguments.string("--resume")

        if let resuming {
            directory = RunDirectory(url: URL(fileURLWithPath: resuming))
            let stored = try Resumption.storedConfiguration(in: directory)
            var given = TrainingConfiguration()
            try applyTrainingOptions(arguments, to: &given)
            configuration = try Resumption.merge(stored: stored, given: given, givenOptions: arguments.givenOptionNames)
            if let out = arguments.string("--out"), URL(fileURLWithPath: out).standardizedFileURL != directory.url.standardizedFileURL {
                throw UsageError(message: "--out \(out) differs from --resume \(resuming); a resumed run stays in its own directory", command: spec.name)
            }
            try Resumption.checkEpochs(configuration, in: directory)
        } else {
            configuration = TrainingConfiguration()
            try applyTrainingOptions(arguments, to: &configuration)
            let url = arguments.string("--out").map { URL(fileURLWithPath: $0) } ?? RunDirectory.defaultURL(model: configuration.model.name)
            directory = RunDirectory(url: url)
            if directory.containsRun {
                throw UsageError(message: "--out \(url.path) already contains a run; choose a new directory, or continue it with --resume \(url.path)", command: spec.name)
            }
            try directory.checkCreatable()
        }

        try validateBeforeLoading(configuration, command: spec.name)
        let display = ProgressDisplay()
        let trainer = try Trainer(configuration: configuration, runDirectory: directory, observer: display)
        if resuming != nil {
            let position = try Resumption.restore(trainer)
            if Resumption.isFinished(trainer) {
                display.notice("\(directory.url.path) has already trained all \(configuration.epochs) epochs; to train more, give a larger --epochs, for example --resume \(directory.url.path) --epochs \(configuration.epochs + 10)")
                return
            }
            if position.step == 0 {
                display.notice("\(directory.url.path) stopped before its first checkpoint: starting it again from step 0")
            } else {
                display.notice("resuming \(directory.url.path) at epoch \(position.epoch) of \(configuration.epochs), after step \(position.step)")
            }
        }
        let epochs = configuration.epochs == 1 ? "1 epoch" : "\(configuration.epochs) epochs"
        let probes = trainer.probes.targets.map { $0.name == $0.path ? $0.path : "\($0.name)=\($0.path)" }.joined(separator: ", ")
        display.notice("training \(configuration.model.name) (\(grouped(trainer.model.parameterCount)) parameters) for \(epochs); probes: \(probes)")
        display.notice("results go to \(directory.url.path)")

        if let repeats = try arguments.int("--probe-overhead", range: 1...1000) {
            let overhead = try trainer.measureProbeOverhead(repeats: repeats)
            let noise = overhead.fraction < 0 ? "; a negative value means the cost is below the timing noise" : ""
            let timing = String(format: "probe overhead: %.1f%% (forward and backward %.4f s with probes, %.4f s without; medians of %d each",
                                overhead.fraction * 100, overhead.probedSeconds, overhead.unprobedSeconds, overhead.repeats)
            display.notice(timing + noise + ")")
        }

        let interrupt = InterruptMonitor.shared
        interrupt.finishBatchOnFirstPress()
        let outcome: RunOutcome
        do {
            outcome = try trainer.run(observer: display, shouldStop: { interrupt.isSet })
        } catch let error as TrainingDivergedError {
            display.finishLine()
            throw error
        }
        display.finishLine()

        switch outcome {
        case .finished:
            display.notice("done: \(directory.url.path) holds gradients.png, summary.md, report.html, epochs.csv and batches.csv")
        case .interrupted(let epoch, let step):
            let resume = [invokedProgram, "train", "--resume", directory.url.path].map(shellQuoted).joined(separator: " ")
            display.notice("interrupted at epoch \(epoch), step \(step); results so far are in \(directory.url.path). Continue with: \(resume)")
            throw CommandExit(code: 130)
        }
    }
}

/// Checks `configuration` before any data is loaded, reporting a problem as a usage error
/// (exit status 2) like the checks of single options.
func validateBeforeLoading(_ configuration: TrainingConfiguration, command: String) throws {
    do {
        try configuration.validate()
    } catch let error as ConfigurationError {
        throw UsageError(message: error.message, command: command)
    }
}

/// Copies the options given on the command line into `configuration`: model, data,
/// optimisation, probes and checkpoints, then diagnosis thresholds.
func applyTrainingOptions(_ arguments: ParsedArguments, to configuration: inout TrainingConfiguration) throws {
    if let model = arguments.string("--model") {
        configuration.model.name = model.lowercased()
    }
    configuration.model.skipConnections = !arguments.has("--no-skip")
    configuration.model.depth = try arguments.int("--depth", range: 1...10_000) ?? configuration.model.depth
    configuration.model.width = try arguments.int("--width", range: 1...1_000_000) ?? configuration.model.width
    configuration.model.activation = try arguments.choice("--activation", as: Activation.self) ?? configuration.model.activation
    configuration.model.numClasses = try arguments.int("--num-classes", range: 1...1_000_000) ?? configuration.model.numClasses
    configuration.model.dropout = Float(try arguments.double("--dropout", range: 0...0.999_999) ?? Double(configuration.model.dropout))

    configuration.convolutionAlgorithm = try arguments.choice("--convolution-algorithm", as: ConvolutionAlgorithm.self) ?? .automatic
    configuration.weights = arguments.string("--weights")
    configuration.data = arguments.string("--data")
    configuration.imageSize = try arguments.int("--image-size", range: 1...4096)
    configuration.normalize = arguments.has("--normalize")

    configuration.epochs = try arguments.int("--epochs", range: 1...1_000_000) ?? configuration.epochs
    configuration.batchSize = try arguments.int("--batch-size", range: 1...1_000_000) ?? configuration.batchSize
    configuration.optimizer = try arguments.choice("--optimizer", as: OptimizerKind.self) ?? configuration.optimizer
    configuration.learningRate = try arguments.double("--lr") ?? configuration.learningRate
    configuration.momentum = try arguments.double("--momentum", range: 0...0.999_999) ?? configuration.momentum
    configuration.weightDecay = try arguments.double("--weight-decay", range: 0...1e6) ?? configuration.weightDecay
    if let seed = arguments.string("--seed") {
        guard let value = UInt64(seed) else {
            throw UsageError(message: "--seed expects a whole number from 0 to \(UInt64.max), got '\(seed)'", command: arguments.command)
        }
        configuration.seed = value
    }
    configuration.shuffle = !arguments.has("--no-shuffle")
    configuration.limitTrain = try arguments.int("--limit-train", range: 1...Int.max)
    configuration.limitTest = try arguments.int("--limit-test", range: 0...Int.max)
    if let size = try arguments.int("--synthetic-size", range: 10...10_000_000) {
        configuration.syntheticTrainCount = size
        configuration.syntheticTestCount = max(1, size / 4)
    }

    configuration.probes = arguments.strings("--probe")
    configuration.checkpointEvery = try arguments.int("--checkpoint-every", range: 1...Int.max)
    configuration.continueOnNonfinite = arguments.has("--continue-on-nonfinite")

    configuration.thresholds.vanishingRatio = try arguments.double("--vanishing-ratio", range: 1e-300...1) ?? configuration.thresholds.vanishingRatio
    configuration.thresholds.explodingRatio = try arguments.double("--exploding-ratio", range: 1...1e300) ?? configuration.thresholds.explodingRatio
    configuration.thresholds.stalledUpdateRatio = try arguments.double("--stalled-ratio", range: 0...1) ?? configuration.thresholds.stalledUpdateRatio
    configuration.thresholds.deadFraction = try arguments.double("--dead-fraction", range: 0...1) ?? configuration.thresholds.deadFraction
}

/// The program as the user typed it, such as `.build/release/gradscope`, so that a printed
/// command can be pasted back. It is `gradscope` when the shell found it on the search path.
var invokedProgram: String {
    let typed = CommandLine.arguments.first ?? "gradscope"
    return typed.contains("/") ? typed : "gradscope"
}

/// Returns `text` as one shell word: unchanged when it has only safe characters, else in single
/// quotes.
func shellQuoted(_ text: String) -> String {
    let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "/._-+=:,@%"))
    if !text.isEmpty, text.unicodeScalars.allSatisfy(safe.contains) {
        return text
    }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

extension ParsedArguments {
    /// The names of the options and flags given, e.g. `--epochs`.
    var givenOptionNames: Set<String> {
        Set(values.keys).union(flags)
    }
}
