import Foundation
import Training

struct ProfileCommand: Command {
    let spec = CommandSpec(
        name: "profile",
        abstract: "Show the gradient through depth: every convolution and linear layer on a few batches.",
        options: [
            OptionSpec(name: "--model", valueName: "NAME", help: "Model from 'gradscope models' (default vgg19)."),
            OptionSpec(name: "--no-skip", help: "ResNets: remove every block's skip connection."),
            OptionSpec(name: "--depth", valueName: "N", help: "MLP: number of linear layers (default 20)."),
            OptionSpec(name: "--width", valueName: "N", help: "MLP: width of the hidden layers (default 256)."),
            OptionSpec(name: "--activation", valueName: "NAME", help: "MLP: relu, sigmoid or tanh (default sigmoid)."),
            OptionSpec(name: "--num-classes", valueName: "K", help: "Classes of the final layer (default 10)."),
            OptionSpec(name: "--dropout", valueName: "P", help: "VGG: dropout probability of the classifier (default 0.5)."),
            OptionSpec(name: "--weights", valueName: "FILE", help: "Start from a .pth or .safetensors state dict."),
            OptionSpec(name: "--data", valueName: "PATH", help: "Data set directory; built-in synthetic images when absent."),
            OptionSpec(name: "--image-size", valueName: "S", help: "Resize images to S x S pixels (default: the data's own size)."),
            OptionSpec(name: "--normalize", help: "Normalise inputs with CIFAR-10's channel mean and deviation."),
            OptionSpec(name: "--batch-size", valueName: "N", help: "Images per batch (default 32)."),
            OptionSpec(name: "--batches", valueName: "B", help: "Batches averaged into the profile (default 4)."),
            OptionSpec(name: "--train-steps", valueName: "N", help: "Optimizer steps before profiling (default 0: at initialisation)."),
            OptionSpec(name: "--update", help: "Also update the weights on the profiled batches."),
            OptionSpec(name: "--optimizer", valueName: "NAME", help: "adam, adamw or sgd, for --train-steps and --update (default adam)."),
            OptionSpec(name: "--lr", valueName: "RATE", help: "Learning rate (default 1e-4)."),
            OptionSpec(name: "--seed", valueName: "N", help: "Seed of the weights and the data order (default 0)."),
            OptionSpec(name: "--synthetic-size", valueName: "N", help: "Training images of the built-in synthetic set (default 2000)."),
            OptionSpec(name: "--out", valueName: "DIR", help: "Output directory (default runs/profile-MODEL-DATE-TIME)."),
        ],
        discussion: "Writes profile.csv, profile.md, profile.png/.svg, profile.json and report.html. The same --seed gives the same batches, so two models can be profiled on identical data.")

    func run(_ arguments: ParsedArguments) throws {
        var configuration = ProfileConfiguration()
        try applyTrainingOptions(arguments, to: &configuration.training)
        configuration.batches = try arguments.int("--batches", range: 1...100_000) ?? configuration.batches
        configuration.trainSteps = try arguments.int("--train-steps", range: 0...10_000_000) ?? 0
        configuration.update = arguments.has("--update")

        let name = "profile-" + configuration.training.model.name + (configuration.training.model.skipConnections ? "" : "-noskip")
        let url = arguments.string("--out").map { URL(fileURLWithPath: $0) } ?? RunDirectory.defaultURL(model: name)
        let display = ProgressDisplay()
        let profile = try Profiler.run(configuration, directory: RunDirectory(url: url), observer: display)

        emit("gradient profile of \(profile.title), \(profile.batches) batches, \(profile.trainSteps) training steps before")
        emit("")
        emit("  #  " + "layer".padding(toLength: 28, withPad: " ", startingAt: 0) + "grad RMS".leftPadded(to: 11) + "weight grad L2".leftPadded(to: 16) + "gain".leftPadded(to: 10))
        for layer in profile.layers {
            let gain = layer.gain.map { format($0) } ?? "-"
            emit(String(layer.index).leftPadded(to: 3) + "  " + layer.path.padding(toLength: 28, withPad: " ", startingAt: 0)
                 + format(layer.gradOutputRMS).leftPadded(to: 11) + format(layer.weightGradL2).leftPadded(to: 16) + gain.leftPadded(to: 10))
        }
        emit("")
        if let ratio = profile.firstToLastRatio {
            emit("first/last gradient RMS: \(format(ratio))")
        }
        emit("files: \(url.path)/profile.png, profile.md, report.html")
    }

    private func format(_ value: Double) -> String {
        String(format: "%.3e", value)
    }
}

struct CompareCommand: Command {
    let spec = CommandSpec(
        name: "compare",
        abstract: "Overlay the probes of several runs or profiles, with a table and a reading of the differences.",
        positionals: [("RUN_DIR", "Run directories of gradscope train or gradscope profile.", true, false)],
        options: [OptionSpec(name: "--out", valueName: "DIR", help: "Output directory (required).")])

    func run(_ arguments: ParsedArguments) throws {
        guard let out = arguments.string("--out") else {
            throw UsageError(message: "--out DIR is required: the directory for the comparison's files", command: spec.name)
        }
        guard arguments.positionals.count >= 2 else {
            throw UsageError(message: "give at least two run directories to compare, got \(arguments.positionals.count)", command: spec.name)
        }
        let runs = try arguments.positionals.map { try RunRecord(directory: URL(fileURLWithPath: $0)) }
        let comparison = RunComparison(runs: runs)
        let markdown = try comparison.write(to: RunDirectory(url: URL(fileURLWithPath: out)))
        emit(markdown)
        emit("files: \(out)/comparison.md, comparison.csv, report.html")
    }
}
