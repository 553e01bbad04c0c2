import Foundation
import Training

struct ProfileCommand: Command {
    let spec = CommandSpec(
        name: "profile",
        abstract: "Show the gradient through depth: every convolution and linear layer on a few batches.",
        options: modelOptions + dataOptions + [
            OptionSpec(name: "--batches", valueName: "B", help: "Batches averaged into the profile (default 4)."),
            OptionSpec(name: "--train-steps", valueName: "N", help: "Optimizer steps before profiling (default 0: at initialisation)."),
            OptionSpec(name: "--update", help: "Also update the weights on the profiled batches."),
            OptionSpec(name: "--optimizer", valueName: "NAME", help: "adam, adamw or sgd, for --train-steps and --update (default adam)."),
            OptionSpec(name: "--lr", valueName: "RATE", help: "Learning rate (default 1e-4)."),
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
        if RunDirectory(url: url).containsRun {
            throw UsageError(message: "--out \(url.path) already contains a run or profile; choose a new directory", command: spec.name)
        }
        try RunDirectory(url: url).checkCreatable()
        try validateBeforeLoading(configuration.training, command: spec.name)
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
        let outDirectory = RunDirectory(url: URL(fileURLWithPath: out))
        if outDirectory.containsRun {
            throw UsageError(
                message: "--out \(out) contains a run or profile, whose report would be overwritten; choose another directory",
                command: spec.name)
        }
        try outDirectory.checkCreatable()
        let runs = try arguments.positionals.map { try RunRecord(directory: URL(fileURLWithPath: $0)) }
        let comparison = RunComparison(runs: runs)
        let markdown = try comparison.write(to: outDirectory)
        emit(markdown)
        emit("files: \(out)/comparison.md, comparison.csv, report.html")
    }
}
