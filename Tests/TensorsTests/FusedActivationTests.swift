import TestSupport
import XCTest

@testable import Tensors

/// The fused operations must give exactly what the separate operations give, forward and
/// backward: the fusion only saves passes over memory.
final class FusedActivationTests: XCTestCase {
    /// Output, gradients and running statistics by name.
    private typealias Result = KeyValuePairs<String, [Float]>

    /// Runs batch norm on fresh copies of one set of inputs, fused with ReLU or followed by it.
    private func batchNormThenReLU(shape: [Int], seed: UInt64, training: Bool, fused: Bool) -> Result {
        var generator = RandomGenerator(seed: seed)
        let channels = shape[1]
        let x = Tensor.randomNormal(shape, mean: 0.3, standardDeviation: 2, generator: &generator)
        let weight = Tensor.randomUniform([channels], in: 0.5..<1.5, generator: &generator)
        let bias = Tensor.randomNormal([channels], generator: &generator)
        let runningMean = Tensor.randomNormal([channels], generator: &generator)
        let runningVariance = Tensor.randomUniform([channels], in: 0.5..<2, generator: &generator)
        let upstream = Tensor.randomNormal(shape, generator: &generator)
        for tensor in [x, weight, bias] {
            tensor.requiresGradient = true
        }

        let output: Tensor
        if fused {
            output = batchNorm2d(
                x, weight: weight, bias: bias, runningMean: runningMean, runningVariance: runningVariance,
                training: training, appliesReLU: true)
        } else {
            output = relu(batchNorm2d(
                x, weight: weight, bias: bias, runningMean: runningMean, runningVariance: runningVariance,
                training: training))
        }
        output.backward(gradient: upstream)
        return [
            "output": output.scalars, "input gradient": x.grad?.scalars ?? [], "weight gradient": weight.grad?.scalars ?? [],
            "bias gradient": bias.grad?.scalars ?? [], "running mean": runningMean.scalars,
            "running variance": runningVariance.scalars,
        ]
    }

    private func assertFusionExact(shape: [Int], seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        for training in [true, false] {
            let fused = batchNormThenReLU(shape: shape, seed: seed, training: training, fused: true)
            let separate = batchNormThenReLU(shape: shape, seed: seed, training: training, fused: false)
            for ((name, fusedValues), (_, separateValues)) in zip(fused, separate) {
                XCTAssertEqual(fusedValues.count, separateValues.count, name, file: file, line: line)
                let differing = zip(fusedValues, separateValues).filter { $0.0.bitPattern != $0.1.bitPattern }.count
                XCTAssertEqual(differing, 0, "\(name) differs in \(differing) values, shape \(shape), training \(training)", file: file, line: line)
            }

            // The ReLU must have cut something, or the mask would go untested.
            let output = fused[0].value
            let zeros = output.filter { $0 == 0 }.count
            XCTAssertGreaterThan(zeros, output.count / 10, file: file, line: line)
            XCTAssertLessThan(zeros, output.count * 9 / 10, file: file, line: line)
        }
    }

    /// Planes of 33 * 35 values, on the per-channel kernels, split across threads.
    func testBatchNormReLUOnLargePlanes() {
        assertFusionExact(shape: [2, 30, 33, 35], seed: 1)
    }

    /// Planes of 2 * 3 values, on the kernels that run across channels, split across threads.
    func testBatchNormReLUOnSmallPlanes() {
        assertFusionExact(shape: [64, 200, 2, 3], seed: 2)
    }

    /// One channel block below the threading threshold, with a column count that leaves a tail.
    func testBatchNormReLUOnSmallTensor() {
        assertFusionExact(shape: [5, 3, 1, 3], seed: 3)
    }

    func testReLUOfSumMatchesSumThenReLU() {
        var generator = RandomGenerator(seed: 4)
        let shape = [3, 70, 11, 13]
        let upstream = Tensor.randomNormal(shape, generator: &generator)
        let aValues = Tensor.randomNormal(shape, generator: &generator).scalars
        let bValues = Tensor.randomNormal(shape, generator: &generator).scalars

        func run(fused: Bool) -> [[Float]] {
            let a = Tensor(aValues, shape: shape, requiresGradient: true)
            let b = Tensor(bValues, shape: shape, requiresGradient: true)
            let output = fused ? reluOfSum(a, b) : relu(a + b)
            output.backward(gradient: upstream)
            return [output.scalars, a.grad?.scalars ?? [], b.grad?.scalars ?? []]
        }
        let fused = run(fused: true)
        XCTAssertEqual(fused, run(fused: false))
        XCTAssertEqual(fused[1], fused[2], "both inputs of a sum get the same gradient")
        XCTAssertTrue(fused[0].contains(0), "the ReLU cut some sums")
        XCTAssertTrue(fused[0].contains { $0 > 0 }, "the ReLU passed some sums")
    }

    /// relu keeps NaN, so that a diverging run is still seen as non-finite, and its gradient is
    /// zero where the output is not positive, as in PyTorch.
    func testReLUOfSumKeepsNaNAndMasksGradient() {
        let a = Tensor([1, -1, .nan, 0, -0.0, 2, -3, 0.5, -0.5], shape: [1, 9], requiresGradient: true)
        let b = Tensor([0, 0, 0, 0, 0, 1, 1, 1, 1], shape: [1, 9])
        let output = reluOfSum(a, b)
        output.backward(gradient: Tensor(repeating: 1, shape: [1, 9]))
        XCTAssertEqual(output.scalars.map { $0.isNaN ? -99 : $0 }, [1, 0, -99, 0, 0, 3, 0, 1.5, 0.5])
        XCTAssertEqual(a.grad?.scalars, [1, 0, 0, 0, 0, 1, 0, 1, 1])
    }
}
