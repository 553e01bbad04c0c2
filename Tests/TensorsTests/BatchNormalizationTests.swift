import TestSupport
import XCTest

@testable import Tensors

/// Per-channel mean and biased variance over N, H and W, in double precision.
private func channelStatistics(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let count = Double(batch * height * width)
    var means: [Double] = []
    var variances: [Double] = []
    for channel in 0..<channels {
        var total = 0.0
        for n in 0..<batch {
            for row in 0..<height {
                for column in 0..<width {
                    total += Double(x[n, channel, row, column])
                }
            }
        }
        let mean = total / count
        var squares = 0.0
        for n in 0..<batch {
            for row in 0..<height {
                for column in 0..<width {
                    let deviation = Double(x[n, channel, row, column]) - mean
                    squares += deviation * deviation
                }
            }
        }
        means.append(mean)
        variances.append(squares / count)
    }
    return (means, variances)
}

/// `(x - mean) / sqrt(variance + epsilon) * weight + bias` per channel.
private func referenceNormalization(
    _ x: Tensor, mean: [Double], variance: [Double], weight: Tensor?, bias: Tensor?, epsilon: Double = 1e-5
) -> [Float] {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var result: [Float] = []
    for n in 0..<batch {
        for channel in 0..<channels {
            let scale = Double(weight?[channel] ?? 1) / (variance[channel] + epsilon).squareRoot()
            let shift = Double(bias?[channel] ?? 0)
            for row in 0..<height {
                for column in 0..<width {
                    result.append(Float((Double(x[n, channel, row, column]) - mean[channel]) * scale + shift))
                }
            }
        }
    }
    return result
}

final class BatchNormalizationTests: XCTestCase {
    private struct Inputs {
        var x: Tensor
        var weight: Tensor
        var bias: Tensor
        var runningMean: Tensor
        var runningVariance: Tensor
    }

    private func makeInputs(_ shape: [Int], seed: UInt64) -> Inputs {
        var generator = RandomGenerator(seed: seed)
        let channels = shape[1]
        // Channel-dependent offsets make the batch statistics differ clearly from 0 and 1.
        let x = Tensor.randomNormal(shape, mean: 0.7, standardDeviation: 2, generator: &generator)
        return Inputs(
            x: x,
            weight: Tensor.randomUniform([channels], in: 0.5..<1.5, generator: &generator),
            bias: Tensor.randomNormal([channels], generator: &generator),
            runningMean: Tensor.randomNormal([channels], standardDeviation: 0.3, generator: &generator),
            runningVariance: Tensor.randomUniform([channels], in: 0.5..<2, generator: &generator))
    }

    func testTrainingForwardUsesBatchStatistics() {
        let inputs = makeInputs([3, 4, 5, 2], seed: 1)
        let output = batchNorm2d(
            inputs.x, weight: inputs.weight, bias: inputs.bias, runningMean: inputs.runningMean,
            runningVariance: inputs.runningVariance, training: true)
        let statistics = channelStatistics(inputs.x)
        let expected = referenceNormalization(
            inputs.x, mean: statistics.mean, variance: statistics.variance, weight: inputs.weight, bias: inputs.bias)
        assertClose(output.scalars, expected, absolute: 1e-5, relative: 1e-4, "training output")
    }

    func testTrainingUpdatesRunningStatisticsWithUnbiasedVariance() {
        let inputs = makeInputs([2, 3, 3, 3], seed: 2)
        let oldMean = inputs.runningMean.scalars
        let oldVariance = inputs.runningVariance.scalars
        _ = batchNorm2d(
            inputs.x, weight: inputs.weight, bias: inputs.bias, runningMean: inputs.runningMean,
            runningVariance: inputs.runningVariance, training: true, momentum: 0.1)

        let statistics = channelStatistics(inputs.x)
        let count = 2.0 * 3 * 3
        let expectedMean = (0..<3).map { Float(0.9 * Double(oldMean[$0]) + 0.1 * statistics.mean[$0]) }
        let expectedVariance = (0..<3).map {
            Float(0.9 * Double(oldVariance[$0]) + 0.1 * statistics.variance[$0] * count / (count - 1))
        }
        assertClose(inputs.runningMean.scalars, expectedMean, "running mean")
        assertClose(inputs.runningVariance.scalars, expectedVariance, "running variance")
    }

    func testEvaluationUsesRunningStatistics() {
        let inputs = makeInputs([2, 3, 4, 4], seed: 3)
        let runningMean = inputs.runningMean.scalars
        let runningVariance = inputs.runningVariance.scalars
        let output = batchNorm2d(
            inputs.x, weight: inputs.weight, bias: inputs.bias, runningMean: inputs.runningMean,
            runningVariance: inputs.runningVariance, training: false)
        let expected = referenceNormalization(
            inputs.x, mean: runningMean.map(Double.init), variance: runningVariance.map(Double.init),
            weight: inputs.weight, bias: inputs.bias)
        assertClose(output.scalars, expected, "evaluation output")
        XCTAssertEqual(inputs.runningMean.scalars, runningMean)
        XCTAssertEqual(inputs.runningVariance.scalars, runningVariance)
    }

    func testForwardWithoutAffineParameters() {
        let inputs = makeInputs([4, 2, 3, 3], seed: 4)
        let output = batchNorm2d(
            inputs.x, weight: nil, bias: nil, runningMean: inputs.runningMean, runningVariance: inputs.runningVariance,
            training: true)
        let statistics = channelStatistics(inputs.x)
        let expected = referenceNormalization(inputs.x, mean: statistics.mean, variance: statistics.variance, weight: nil, bias: nil)
        assertClose(output.scalars, expected, "no affine parameters")
    }

    func testTrainingGradientsMatchFiniteDifferences() {
        let inputs = makeInputs([3, 2, 3, 3], seed: 5)
        let result = checkGradients(of: [inputs.x, inputs.weight, inputs.bias], step: 1e-2) { tensors in
            batchNorm2d(
                tensors[0], weight: tensors[1], bias: tensors[2], runningMean: inputs.runningMean.copy(),
                runningVariance: inputs.runningVariance.copy(), training: true)
        }
        XCTAssertLessThan(result.maximumRelativeError, 1e-2, "worst \(result.worst)")
    }

    func testTrainingGradientWithoutAffineParameters() {
        let inputs = makeInputs([2, 3, 2, 3], seed: 6)
        let result = checkGradients(of: [inputs.x], step: 1e-2) { tensors in
            batchNorm2d(
                tensors[0], weight: nil, bias: nil, runningMean: inputs.runningMean.copy(),
                runningVariance: inputs.runningVariance.copy(), training: true)
        }
        XCTAssertLessThan(result.maximumRelativeError, 1e-2, "worst \(result.worst)")
    }

    func testEvaluationGradientsMatchFiniteDifferences() {
        let inputs = makeInputs([2, 3, 3, 2], seed: 7)
        let result = checkGradients(of: [inputs.x, inputs.weight, inputs.bias], step: 1e-2) { tensors in
            batchNorm2d(
                tensors[0], weight: tensors[1], bias: tensors[2], runningMean: inputs.runningMean,
                runningVariance: inputs.runningVariance, training: false)
        }
        XCTAssertLessThan(result.maximumRelativeError, 5e-3, "worst \(result.worst)")
    }

    /// A tensor above the size that splits channels across threads, with planes of 41 * 43
    /// values (SIMD lanes plus a tail), on the per-channel kernels.
    func testLargeTensorGradients() {
        assertClosedFormGradients(shape: [2, 20, 41, 43], seed: 8)
    }

    /// Planes of 3 * 5 values, on the kernels that run across channels; 300 channels split
    /// across threads into column ranges that are not multiples of the SIMD width.
    func testSmallPlaneGradients() {
        assertClosedFormGradients(shape: [16, 300, 3, 5], seed: 12)
    }

    /// Checks a training step's output and gradients against the closed forms in double
    /// precision: dx = gamma / sigma * (dy - mean(dy) - x_hat * mean(dy * x_hat)),
    /// dgamma = sum(dy * x_hat), dbeta = sum(dy).
    private func assertClosedFormGradients(shape: [Int], seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        let inputs = makeInputs(shape, seed: seed)
        var generator = RandomGenerator(seed: seed + 1)
        let upstream = Tensor.randomNormal(shape, generator: &generator)
        inputs.x.requiresGradient = true
        inputs.weight.requiresGradient = true
        inputs.bias.requiresGradient = true

        let output = batchNorm2d(
            inputs.x, weight: inputs.weight, bias: inputs.bias, runningMean: inputs.runningMean,
            runningVariance: inputs.runningVariance, training: true)
        output.backward(gradient: upstream)

        let statistics = channelStatistics(inputs.x)
        let expectedOutput = referenceNormalization(
            inputs.x, mean: statistics.mean, variance: statistics.variance, weight: inputs.weight, bias: inputs.bias)
        assertClose(output.scalars, expectedOutput, absolute: 1e-5, relative: 1e-4, "output", file: file, line: line)

        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let count = Double(batch * height * width)
        var expectedInputGradient = [Float](repeating: 0, count: inputs.x.count)
        var expectedWeightGradient: [Float] = []
        var expectedBiasGradient: [Float] = []
        for channel in 0..<channels {
            let inverseDeviation = 1 / (statistics.variance[channel] + 1e-5).squareRoot()
            var gradientSum = 0.0
            var normalizedSum = 0.0
            for n in 0..<batch {
                for row in 0..<height {
                    for column in 0..<width {
                        let normalized = (Double(inputs.x[n, channel, row, column]) - statistics.mean[channel]) * inverseDeviation
                        let dy = Double(upstream[n, channel, row, column])
                        gradientSum += dy
                        normalizedSum += dy * normalized
                    }
                }
            }
            expectedWeightGradient.append(Float(normalizedSum))
            expectedBiasGradient.append(Float(gradientSum))
            let gamma = Double(inputs.weight[channel])
            for n in 0..<batch {
                for row in 0..<height {
                    for column in 0..<width {
                        let normalized = (Double(inputs.x[n, channel, row, column]) - statistics.mean[channel]) * inverseDeviation
                        let dy = Double(upstream[n, channel, row, column])
                        let value = gamma * inverseDeviation * (dy - gradientSum / count - normalized * normalizedSum / count)
                        expectedInputGradient[((n * channels + channel) * height + row) * width + column] = Float(value)
                    }
                }
            }
        }
        assertClose(inputs.x.grad?.scalars ?? [], expectedInputGradient, absolute: 1e-5, relative: 1e-3, "input gradient", file: file, line: line)
        assertClose(inputs.weight.grad?.scalars ?? [], expectedWeightGradient, absolute: 1e-3, relative: 1e-4, "weight gradient", file: file, line: line)
        assertClose(inputs.bias.grad?.scalars ?? [], expectedBiasGradient, absolute: 1e-3, relative: 1e-4, "bias gradient", file: file, line: line)
    }

    /// Evaluation on the threaded path: dx = gamma / sqrt(running variance + epsilon) * dy.
    func testLargeTensorEvaluationGradient() {
        let shape = [2, 20, 41, 43]
        let inputs = makeInputs(shape, seed: 10)
        var generator = RandomGenerator(seed: 11)
        let upstream = Tensor.randomNormal(shape, generator: &generator)
        inputs.x.requiresGradient = true
        let runningVariance = inputs.runningVariance.scalars

        let output = batchNorm2d(
            inputs.x, weight: inputs.weight, bias: inputs.bias, runningMean: inputs.runningMean,
            runningVariance: inputs.runningVariance, training: false)
        output.backward(gradient: upstream)

        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        var expected: [Float] = []
        for n in 0..<batch {
            for channel in 0..<channels {
                let factor = Double(inputs.weight[channel]) / (Double(runningVariance[channel]) + 1e-5).squareRoot()
                for row in 0..<height {
                    for column in 0..<width {
                        expected.append(Float(factor * Double(upstream[n, channel, row, column])))
                    }
                }
            }
        }
        assertClose(inputs.x.grad?.scalars ?? [], expected, absolute: 1e-6, relative: 1e-5, "input gradient")
    }
}
