import Foundation
import Tensors

// `gradscope-bench kernels`: times conv2d and linear, forward and forward+backward, at the
// shapes VGG19 trains on with 32x32 inputs and batch 32. Benchmarks/kernels_pytorch.py times
// the same cases in PyTorch and prints the same CSV columns.

/// One timed case: a convolution or linear layer shape.
struct KernelCase {
    enum Kind {
        case convolution(inputChannels: Int, outputChannels: Int, size: Int)
        case linear(inputFeatures: Int, outputFeatures: Int)
    }

    var name: String
    /// The VGG19 layers with this shape, e.g. `conv6-8`.
    var layers: String
    var kind: Kind
    var batch = 32

    /// Floating-point operations of one forward pass (a multiply-add counts as 2).
    var forwardFlops: Double {
        switch kind {
        case let .convolution(inputChannels, outputChannels, size):
            return 2 * Double(batch * outputChannels * size * size) * Double(inputChannels * 9)
        case let .linear(inputFeatures, outputFeatures):
            return 2 * Double(batch) * Double(inputFeatures) * Double(outputFeatures)
        }
    }
}

/// The distinct convolution shapes of VGG19 (3x3, padding 1) at 32x32 input, and its classifier.
let kernelCases: [KernelCase] = [
    KernelCase(name: "conv 3->64 @32", layers: "conv1", kind: .convolution(inputChannels: 3, outputChannels: 64, size: 32)),
    KernelCase(name: "conv 64->64 @32", layers: "conv2", kind: .convolution(inputChannels: 64, outputChannels: 64, size: 32)),
    KernelCase(name: "conv 64->128 @16", layers: "conv3", kind: .convolution(inputChannels: 64, outputChannels: 128, size: 16)),
    KernelCase(name: "conv 128->128 @16", layers: "conv4", kind: .convolution(inputChannels: 128, outputChannels: 128, size: 16)),
    KernelCase(name: "conv 128->256 @8", layers: "conv5", kind: .convolution(inputChannels: 128, outputChannels: 256, size: 8)),
    KernelCase(name: "conv 256->256 @8", layers: "conv6-8", kind: .convolution(inputChannels: 256, outputChannels: 256, size: 8)),
    KernelCase(name: "conv 256->512 @4", layers: "conv9", kind: .convolution(inputChannels: 256, outputChannels: 512, size: 4)),
    KernelCase(name: "conv 512->512 @4", layers: "conv10-12", kind: .convolution(inputChannels: 512, outputChannels: 512, size: 4)),
    KernelCase(name: "conv 512->512 @2", layers: "conv13-16", kind: .convolution(inputChannels: 512, outputChannels: 512, size: 2)),
    KernelCase(name: "linear 25088->4096", layers: "fc1", kind: .linear(inputFeatures: 25088, outputFeatures: 4096)),
    KernelCase(name: "linear 4096->4096", layers: "fc2", kind: .linear(inputFeatures: 4096, outputFeatures: 4096)),
    KernelCase(name: "linear 4096->10", layers: "fc3", kind: .linear(inputFeatures: 4096, outputFeatures: 10)),
]

func runKernelBenchmarks(_ arguments: [String]) {
    var repetitions = 10
    var warmup = 3
    var index = 0
    while index < arguments.count {
        let option = arguments[index]
        let value = index + 1 < arguments.count ? Int(arguments[index + 1]) : nil
        switch (option, value) {
        case ("--repetitions", let count?) where count > 0:
            repetitions = count
        case ("--warmup", let count?) where count >= 0:
            warmup = count
        default:
            FileHandle.standardError.write(
                "gradscope-bench kernels: invalid option '\(option)'; use --repetitions N (N > 0) and --warmup N (N >= 0)\n"
                    .data(using: .utf8)!)
            exit(2)
        }
        index += 2
    }

    print("# GradScope kernels, \(kernelThreadCount) threads, median of \(repetitions) after \(warmup) warm-up runs")
    print("case,layers,forward_ms,train_ms,train_gflops")
    for benchmarkCase in kernelCases {
        let timing = timeKernelCase(benchmarkCase, repetitions: repetitions, warmup: warmup)
        let trainGflops = 3 * benchmarkCase.forwardFlops / (timing.train * 1e-3) / 1e9
        let line = String(
            format: "%@,%@,%.3f,%.3f,%.1f", benchmarkCase.name, benchmarkCase.layers, timing.forward, timing.train,
            trainGflops)
        print(line)
        fflush(stdout)
    }
}

/// Median milliseconds of a forward pass and of a forward plus backward pass (gradients for the
/// input, weight and bias, as for a hidden layer).
func timeKernelCase(_ benchmarkCase: KernelCase, repetitions: Int, warmup: Int) -> (forward: Double, train: Double) {
    var generator = RandomGenerator(seed: 1)
    let x: Tensor
    let weight: Tensor
    let bias: Tensor
    let layer: (Tensor) -> Tensor
    switch benchmarkCase.kind {
    case let .convolution(inputChannels, outputChannels, size):
        x = Tensor.randomNormal([benchmarkCase.batch, inputChannels, size, size], generator: &generator)
        weight = Tensor.randomNormal([outputChannels, inputChannels, 3, 3], standardDeviation: 0.05, generator: &generator)
        bias = Tensor.randomNormal([outputChannels], generator: &generator)
        layer = { conv2d($0, weight: weight, bias: bias, padding: Size2(1)) }
    case let .linear(inputFeatures, outputFeatures):
        x = Tensor.randomNormal([benchmarkCase.batch, inputFeatures], generator: &generator)
        weight = Tensor.randomNormal([outputFeatures, inputFeatures], standardDeviation: 0.01, generator: &generator)
        bias = Tensor.randomNormal([outputFeatures], generator: &generator)
        layer = { linear($0, weight: weight, bias: bias) }
    }
    for tensor in [x, weight, bias] {
        tensor.requiresGradient = true
    }
    let probe = layer(x)
    let outputGradient = Tensor.randomNormal(probe.shape, generator: &generator)

    func clearGradients() {
        for tensor in [x, weight, bias] {
            tensor.zeroGradient()
        }
    }

    let forward = medianMilliseconds(repetitions: repetitions, warmup: warmup) {
        _ = layer(x)
    }
    let train = medianMilliseconds(repetitions: repetitions, warmup: warmup) {
        clearGradients()
        layer(x).backward(gradient: outputGradient)
    }
    return (forward, train)
}

func medianMilliseconds(repetitions: Int, warmup: Int, _ body: () -> Void) -> Double {
    for _ in 0..<warmup {
        body()
    }
    var samples: [Double] = []
    for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let end = DispatchTime.now().uptimeNanoseconds
        samples.append(Double(end - start) / 1e6)
    }
    samples.sort()
    let middle = samples.count / 2
    return samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
}
