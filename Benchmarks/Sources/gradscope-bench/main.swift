import Foundation

// Entry point of the benchmark executable: the first argument names the benchmark to run.

let benchmarks: [(name: String, summary: String, run: ([String]) -> Void)] = [
    ("kernels", "conv2d and linear forward+backward at VGG19 shapes, batch 32", runKernelBenchmarks),
    ("training", "whole training steps of one model (--case NAME), as the trainer runs them", runTrainingBenchmark),
    ("loader", "images per second of the data loader on an image folder at 32x32 and 224x224", { runLoaderBenchmark(arguments: $0) }),
]

func printUsage() {
    print("usage: gradscope-bench BENCHMARK [OPTIONS]")
    print("benchmarks:")
    for benchmark in benchmarks {
        print("  \(benchmark.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(benchmark.summary)")
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first else {
    printUsage()
    exit(2)
}
guard let benchmark = benchmarks.first(where: { $0.name == name }) else {
    FileHandle.standardError.write("gradscope-bench: unknown benchmark '\(name)'\n".data(using: .utf8)!)
    printUsage()
    exit(2)
}
benchmark.run(Array(arguments.dropFirst()))
