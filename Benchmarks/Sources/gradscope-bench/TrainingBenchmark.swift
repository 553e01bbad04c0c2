import Foundation
import NeuralNetworks
import Probes
import Tensors

// `gradscope-bench training --case NAME`: times whole training steps (zero gradients, forward,
// cross-entropy, backward, probe metrics, Adam step) of one model, as `Trainer` runs them.
// Benchmarks/training_pytorch.py times the same cases in PyTorch and prints the same CSV line.
// Benchmarks/run-training.sh runs every case in its own process, so that the peak resident
// memory it reports belongs to that case alone.

/// One timed configuration: a model, an input size, a batch size and what a step does.
struct TrainingCase {
    var name: String
    var model: ModelSpecification
    var imageSize: Int
    var batch: Int
    /// The default number of timed steps and of warm-up steps before them.
    var steps: Int
    var warmup: Int
    /// Whether a step is the forward pass alone, without a graph, loss or update.
    var inferenceOnly = false
    /// Probe requests as `ProbeSelection.resolve` takes them; empty for none.
    var probes: [String] = []
}

let trainingCases: [TrainingCase] = [
    TrainingCase(name: "vgg19-32", model: ModelSpecification(name: "vgg19"), imageSize: 32, batch: 32, steps: 10, warmup: 3),
    TrainingCase(
        name: "vgg19-32-probes", model: ModelSpecification(name: "vgg19"), imageSize: 32, batch: 32, steps: 10, warmup: 3,
        probes: ProbeSelection.originalVGGProbes),
    TrainingCase(
        name: "vgg19-32-inference", model: ModelSpecification(name: "vgg19"), imageSize: 32, batch: 32, steps: 10, warmup: 3,
        inferenceOnly: true),
    TrainingCase(name: "vgg19-224", model: ModelSpecification(name: "vgg19"), imageSize: 224, batch: 8, steps: 3, warmup: 1),
    TrainingCase(name: "resnet50-32", model: ModelSpecification(name: "resnet50"), imageSize: 32, batch: 32, steps: 8, warmup: 3),
    TrainingCase(
        name: "resnet50-32-noskip", model: ModelSpecification(name: "resnet50", skipConnections: false), imageSize: 32,
        batch: 32, steps: 8, warmup: 3),
    TrainingCase(
        name: "mlp20-sigmoid", model: ModelSpecification(name: "mlp", depth: 20, width: 256, activation: .sigmoid),
        imageSize: 32, batch: 128, steps: 50, warmup: 5),
]

func runTrainingBenchmark(_ arguments: [String]) {
    var caseName: String?
    var steps: Int?
    var warmup: Int?
    var printsHeader = false
    var index = 0
    while index < arguments.count {
        let option = arguments[index]
        let value = index + 1 < arguments.count ? arguments[index + 1] : nil
        switch (option, value) {
        case ("--case", let name?):
            caseName = name
        case ("--steps", let text?) where (Int(text) ?? 0) > 0:
            steps = Int(text)
        case ("--warmup", let text?) where (Int(text) ?? -1) >= 0:
            warmup = Int(text)
        case ("--header", _):
            printsHeader = true
            index -= 1
        default:
            failTrainingBenchmark("invalid option '\(option)'; use --case NAME, --steps N (N > 0), --warmup N (N >= 0), --header")
        }
        index += 2
    }

    if printsHeader {
        print(trainingResultHeader)
    }
    guard let caseName else {
        if !printsHeader {
            failTrainingBenchmark("missing --case; choose one of: \(trainingCases.map(\.name).joined(separator: ", "))")
        }
        return
    }
    guard var benchmarkCase = trainingCases.first(where: { $0.name == caseName }) else {
        failTrainingBenchmark("unknown case '\(caseName)'; choose one of: \(trainingCases.map(\.name).joined(separator: ", "))")
    }
    benchmarkCase.steps = steps ?? benchmarkCase.steps
    benchmarkCase.warmup = warmup ?? benchmarkCase.warmup

    let samples = timeTrainingSteps(benchmarkCase)
    print(trainingResultLine(benchmarkCase, samples: samples))
}

/// The CSV columns that this benchmark and training_pytorch.py print.
let trainingResultHeader = "implementation,case,batch,steps,median_ms,min_ms,images_per_s,peak_rss_mb"

private func failTrainingBenchmark(_ message: String) -> Never {
    FileHandle.standardError.write("gradscope-bench training: \(message)\n".data(using: .utf8)!)
    exit(2)
}

/// Milliseconds of each timed step, after the warm-up steps.
func timeTrainingSteps(_ benchmarkCase: TrainingCase) -> [Double] {
    var generator = RandomGenerator(seed: 1)
    var specification = benchmarkCase.model
    specification.inputShape = [3, benchmarkCase.imageSize, benchmarkCase.imageSize]
    let model: Module
    let probes: ProbeSet?
    do {
        model = try ModelCatalog.makeModel(specification, generator: &generator)
        let targets = try ProbeSelection.resolve(benchmarkCase.probes, in: model)
        probes = targets.isEmpty ? nil : ProbeSet(model: model, targets: targets)
    } catch {
        failTrainingBenchmark("\(error)")
    }
    let optimizer = Adam(parameters: model.namedParameters(), learningRate: 1e-4)
    optimizer.trackedUpdateNames = probes?.trackedWeightNames ?? []
    model.setTraining(!benchmarkCase.inferenceOnly)

    let images = Tensor.randomNormal(
        [benchmarkCase.batch, 3, benchmarkCase.imageSize, benchmarkCase.imageSize], generator: &generator)
    let labels = (0..<benchmarkCase.batch).map { $0 % specification.numClasses }

    // With GRADSCOPE_BENCH_PHASES, the first two steps also report the peak resident memory and
    // the bytes in the tensor buffer pool after each phase: the first step allocates the
    // optimizer's state, the second shows the steady state.
    let reportsPhases = ProcessInfo.processInfo.environment["GRADSCOPE_BENCH_PHASES"] != nil
    var memoryNotes: [String] = reportsPhases ? [memoryNote("model built")] : []
    var stepNumber = 1

    func noteMemory(_ phase: String) {
        if reportsPhases && stepNumber <= 2 {
            memoryNotes.append(memoryNote("step \(stepNumber) \(phase)"))
        }
    }

    func step() {
        defer { stepNumber += 1 }
        if benchmarkCase.inferenceOnly {
            let logits = GradientMode.withoutGradient { model(images) }
            precondition(logits.item(at: 0).isFinite, "the logits are not finite")
            return
        }
        var clock = PhaseClock()
        let logits = model(images)
        let loss = crossEntropy(logits: logits, labels: labels)
        clock.mark("forward")
        noteMemory("forward")
        model.zeroGradients()
        loss.backward()
        clock.mark("backward")
        noteMemory("backward")
        probes?.collectGradientMetrics()
        clock.mark("probes")
        optimizer.step()
        clock.mark("optimizer")
        noteMemory("optimizer")
        if let probes {
            probes.collectParameterMetrics(from: optimizer)
            _ = probes.takeRecords()
        }
        clock.mark("probes")
        phaseTotals.merge(clock.phases) { $0 + $1 }
        precondition(loss.item.isFinite, "the loss is not finite")
    }

    for _ in 0..<benchmarkCase.warmup {
        step()
    }
    phaseTotals = [:]
    var samples: [Double] = []
    for _ in 0..<benchmarkCase.steps {
        let start = DispatchTime.now().uptimeNanoseconds
        step()
        let end = DispatchTime.now().uptimeNanoseconds
        samples.append(Double(end - start) / 1e6)
    }
    if ProcessInfo.processInfo.environment["GRADSCOPE_BENCH_PHASES"] != nil {
        let phases = phaseTotals.sorted { $0.key < $1.key }.map { String(format: "%@ %.1f ms", $0.key, $0.value / Double(samples.count)) }
        FileHandle.standardError.write("mean per step: \(phases.joined(separator: ", "))\n".data(using: .utf8)!)
        FileHandle.standardError.write("after each phase: \(memoryNotes.joined(separator: "; "))\n".data(using: .utf8)!)
    }
    return samples
}

/// Milliseconds per phase summed over the timed steps, printed to standard error when the
/// environment variable GRADSCOPE_BENCH_PHASES is set.
nonisolated(unsafe) private var phaseTotals: [String: Double] = [:]

/// Splits one step into named phases by wall-clock time.
private struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    private(set) var phases: [String: Double] = [:]

    mutating func mark(_ phase: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        phases[phase, default: 0] += Double(now - last) / 1e6
        last = now
    }
}

private extension Tensor {
    func item(at index: Int) -> Float {
        withUnsafeBufferPointer { $0[index] }
    }
}

func trainingResultLine(_ benchmarkCase: TrainingCase, samples: [Double]) -> String {
    let sorted = samples.sorted()
    let middle = sorted.count / 2
    let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    let imagesPerSecond = Double(benchmarkCase.batch) / (median / 1000)
    return String(
        format: "gradscope,%@,%d,%d,%.2f,%.2f,%.2f,%.1f", benchmarkCase.name, benchmarkCase.batch, samples.count, median,
        sorted[0], imagesPerSecond, peakResidentMegabytes())
}

/// The peak resident memory so far and the bytes the tensor buffer pool keeps, after `phase`.
private func memoryNote(_ phase: String) -> String {
    String(format: "%@ peak %.0f MiB, pooled %.0f MiB", phase, peakResidentMegabytes(), Double(TensorStorage.cachedBytes) / 1_048_576)
}

/// The process's peak resident set size in MiB (`ru_maxrss`, which Linux reports in KiB).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
