import TestSupport
import XCTest

@testable import Tensors

private struct PoolingCase {
    var name: String
    var inputShape: [Int]
    var kernel: Size2
    var stride: Size2
    var padding = Size2(0)
}

private let poolingCases: [PoolingCase] = [
    PoolingCase(name: "2x2 stride 2", inputShape: [2, 3, 4, 6], kernel: Size2(2), stride: Size2(2)),
    PoolingCase(name: "3x3 stride 2 padding 1", inputShape: [1, 2, 7, 5], kernel: Size2(3), stride: Size2(2), padding: Size2(1)),
    PoolingCase(name: "overlapping 3x2 stride 1", inputShape: [2, 2, 5, 4], kernel: Size2(3, 2), stride: Size2(1)),
    PoolingCase(
        name: "uneven stride and padding", inputShape: [1, 3, 6, 7], kernel: Size2(2, 4), stride: Size2(1, 3),
        padding: Size2(1, 2)),
]

/// Direct pooling loops over the padded window: the maximum of the in-bounds elements, or the
/// sum of the in-bounds elements divided by the full kernel area (padding counts as zeros).
private func referencePooling(_ x: Tensor, _ setting: PoolingCase, maximum: Bool) -> [Float] {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let outputHeight = (height + 2 * setting.padding.height - setting.kernel.height) / setting.stride.height + 1
    let outputWidth = (width + 2 * setting.padding.width - setting.kernel.width) / setting.stride.width + 1
    var result: [Float] = []
    for n in 0..<batch {
        for channel in 0..<channels {
            for outputRow in 0..<outputHeight {
                for outputColumn in 0..<outputWidth {
                    var largest = -Float.infinity
                    var total: Float = 0
                    for kernelRow in 0..<setting.kernel.height {
                        for kernelColumn in 0..<setting.kernel.width {
                            let row = outputRow * setting.stride.height - setting.padding.height + kernelRow
                            let column = outputColumn * setting.stride.width - setting.padding.width + kernelColumn
                            guard row >= 0, row < height, column >= 0, column < width else {
                                continue
                            }
                            largest = max(largest, x[n, channel, row, column])
                            total += x[n, channel, row, column]
                        }
                    }
                    let area = Float(setting.kernel.height * setting.kernel.width)
                    result.append(maximum ? largest : total / area)
                }
            }
        }
    }
    return result
}

/// Calls `body(outputIndex, inputIndex)` for every in-bounds input element of every pooling
/// window, in window order, with row-major flat indices.
private func forEachWindowElement(_ x: Tensor, _ setting: PoolingCase, _ body: (Int, Int) -> Void) {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let outputHeight = (height + 2 * setting.padding.height - setting.kernel.height) / setting.stride.height + 1
    let outputWidth = (width + 2 * setting.padding.width - setting.kernel.width) / setting.stride.width + 1
    var outputIndex = 0
    for plane in 0..<(batch * channels) {
        for outputRow in 0..<outputHeight {
            for outputColumn in 0..<outputWidth {
                for kernelRow in 0..<setting.kernel.height {
                    for kernelColumn in 0..<setting.kernel.width {
                        let row = outputRow * setting.stride.height - setting.padding.height + kernelRow
                        let column = outputColumn * setting.stride.width - setting.padding.width + kernelColumn
                        if row >= 0, row < height, column >= 0, column < width {
                            body(outputIndex, (plane * height + row) * width + column)
                        }
                    }
                }
                outputIndex += 1
            }
        }
    }
}

/// Computes the max-pooling input gradient: each window's upstream value goes to its largest element.
private func referenceMaxPoolGradient(_ x: Tensor, upstream: Tensor, _ setting: PoolingCase) -> [Float] {
    var largest = [Float](repeating: -.infinity, count: upstream.count)
    var position = [Int](repeating: -1, count: upstream.count)
    forEachWindowElement(x, setting) { outputIndex, inputIndex in
        if x.storage.pointer[inputIndex] > largest[outputIndex] {
            largest[outputIndex] = x.storage.pointer[inputIndex]
            position[outputIndex] = inputIndex
        }
    }
    var gradient = [Float](repeating: 0, count: x.count)
    for outputIndex in 0..<upstream.count {
        gradient[position[outputIndex]] += upstream.storage.pointer[outputIndex]
    }
    return gradient
}

final class PoolingTests: XCTestCase {
    /// Planes of 128 x 130, where oneDNN 2.6 has only its reference implementation for NCHW, so
    /// the plan pools in the blocked layout. Five channels leave the last 16-channel block padded.
    private let blockedCases = [
        PoolingCase(name: "blocked 2x2 stride 2", inputShape: [1, 5, 128, 130], kernel: Size2(2), stride: Size2(2)),
        PoolingCase(
            name: "blocked 3x3 stride 2 padding 1", inputShape: [1, 5, 128, 130], kernel: Size2(3), stride: Size2(2),
            padding: Size2(1)),
    ]

    func testBlockedPlanSelection() {
        for setting in blockedCases {
            let configuration = PoolingConfiguration(
                kind: .maximum, inputShape: setting.inputShape, kernel: setting.kernel, stride: setting.stride,
                padding: setting.padding)
            let usesBlockedLayout = OneDNN.shared.withExclusiveAccess {
                PoolingPlan.cached(configuration).usesBlockedLayout
            }
            XCTAssertTrue(usesBlockedLayout, setting.name)
        }
        let jitPlane = PoolingConfiguration(kind: .maximum, inputShape: [1, 16, 112, 112], kernel: Size2(2), stride: Size2(2), padding: Size2(0))
        let jitPlaneUsesBlockedLayout = OneDNN.shared.withExclusiveAccess {
            PoolingPlan.cached(jitPlane).usesBlockedLayout
        }
        XCTAssertFalse(jitPlaneUsesBlockedLayout, "112 x 112 plane, which oneDNN pools in NCHW with its JIT kernel")
    }

    func testBlockedMaxPoolForwardAndGradient() {
        for (index, setting) in blockedCases.enumerated() {
            let x = distinctValues(setting.inputShape, seed: UInt64(60 + index))
            x.requiresGradient = true
            let output = maxPool2d(x, kernelSize: setting.kernel, stride: setting.stride, padding: setting.padding)
            assertClose(output.scalars, referencePooling(x, setting, maximum: true), absolute: 0, relative: 0, setting.name)

            var generator = RandomGenerator(seed: UInt64(70 + index))
            let upstream = Tensor.randomNormal(output.shape, generator: &generator)
            output.backward(gradient: upstream)
            let expected = referenceMaxPoolGradient(x, upstream: upstream, setting)
            assertClose(x.grad?.scalars ?? [], expected, "\(setting.name) gradient")
        }
    }

    func testBlockedAvgPoolForwardAndGradient() {
        for (index, setting) in blockedCases.enumerated() {
            var generator = RandomGenerator(seed: UInt64(80 + index))
            let x = Tensor.randomNormal(setting.inputShape, generator: &generator)
            x.requiresGradient = true
            let output = avgPool2d(x, kernelSize: setting.kernel, stride: setting.stride, padding: setting.padding)
            assertClose(output.scalars, referencePooling(x, setting, maximum: false), setting.name)

            // Every window spreads its gradient over the full kernel area, padding included.
            let upstream = Tensor.randomNormal(output.shape, generator: &generator)
            output.backward(gradient: upstream)
            var expected = [Float](repeating: 0, count: x.count)
            forEachWindowElement(x, setting) { outputIndex, inputIndex in
                let area = Float(setting.kernel.height * setting.kernel.width)
                expected[inputIndex] += upstream.storage.pointer[outputIndex] / area
            }
            assertClose(x.grad?.scalars ?? [], expected, "\(setting.name) gradient")
        }
    }

    func testMaxPoolForwardMatchesDirectLoops() {
        for (index, setting) in poolingCases.enumerated() {
            let x = distinctValues(setting.inputShape, seed: UInt64(30 + index))
            let output = maxPool2d(x, kernelSize: setting.kernel, stride: setting.stride, padding: setting.padding)
            assertClose(output.scalars, referencePooling(x, setting, maximum: true), absolute: 0, relative: 0, setting.name)
        }
    }

    func testAvgPoolForwardMatchesDirectLoops() {
        for (index, setting) in poolingCases.enumerated() {
            var generator = RandomGenerator(seed: UInt64(40 + index))
            let x = Tensor.randomNormal(setting.inputShape, generator: &generator)
            let output = avgPool2d(x, kernelSize: setting.kernel, stride: setting.stride, padding: setting.padding)
            assertClose(output.scalars, referencePooling(x, setting, maximum: false), setting.name)
        }
    }

    func testMaxPoolGradientsMatchFiniteDifferences() {
        for (index, setting) in poolingCases.enumerated() {
            // Values 0.1 apart and a step of 0.01 keep every window's maximum in place.
            let x = distinctValues(setting.inputShape, spacing: 0.1, seed: UInt64(50 + index))
            let result = checkGradients(of: [x], step: 1e-2) { tensors in
                maxPool2d(tensors[0], kernelSize: setting.kernel, stride: setting.stride, padding: setting.padding)
            }
            XCTAssertLessThan(result.maximumRelativeError, 5e-3, "\(setting.name): worst \(result.worst)")
        }
    }

    func testAvgPoolGradientsMatchFiniteDifferences() {
        for (index, setting) in poolingCases.enumerated() {
            var generator = RandomGenerator(seed: UInt64(60 + index))
            let x = Tensor.randomNormal(setting.inputShape, generator: &generator)
            let result = checkGradients(of: [x], step: 1e-2) { tensors in
                avgPool2d(tensors[0], kernelSize: setting.kernel, stride: setting.stride, padding: setting.padding)
            }
            XCTAssertLessThan(result.maximumRelativeError, 5e-3, "\(setting.name): worst \(result.worst)")
        }
    }

    func testMaxPoolTieGoesToFirstMaximum() {
        // Every 2x2 window contains equal values. PyTorch routes the gradient to the first element
        // in row-major window order, the top-left one. The larger shape may select another
        // oneDNN implementation than the small one.
        for shape in [[1, 1, 4, 4], [2, 32, 8, 8]] {
            let x = Tensor(repeating: 1.5, shape: shape, requiresGradient: true)
            let output = maxPool2d(x, kernelSize: Size2(2), stride: Size2(2))
            sum(output).backward()

            var expected: [Float] = []
            for _ in 0..<(shape[0] * shape[1]) {
                for row in 0..<shape[2] {
                    for column in 0..<shape[3] {
                        expected.append(row % 2 == 0 && column % 2 == 0 ? 1 : 0)
                    }
                }
            }
            XCTAssertEqual(x.grad?.scalars, expected, "shape \(shape)")
        }
    }

    func testMaxPoolOverlappingWindowsAccumulate() {
        // The centre value 9 is the maximum of all four overlapping 2x2 windows (stride 1).
        let x = Tensor([1, 2, 3, 4, 9, 5, 6, 7, 8], shape: [1, 1, 3, 3], requiresGradient: true)
        let output = maxPool2d(x, kernelSize: Size2(2), stride: Size2(1))
        XCTAssertEqual(output.scalars, [9, 9, 9, 9])
        sum(output).backward()
        XCTAssertEqual(x.grad?.scalars, [0, 0, 0, 0, 4, 0, 0, 0, 0])
    }

    func testAvgPoolPaddingCountsInDivisor() {
        // A 2x2 window at the corner with padding 1 covers one input value and three padded zeros.
        let x = Tensor([4, 8, 12, 16], shape: [1, 1, 2, 2])
        let output = avgPool2d(x, kernelSize: Size2(2), stride: Size2(2), padding: Size2(1))
        XCTAssertEqual(output.shape, [1, 1, 2, 2])
        XCTAssertEqual(output.scalars, [1, 2, 3, 4])
    }
}

/// Direct adaptive average pooling with PyTorch's window bounds written out in floating point.
private func referenceAdaptivePooling(_ x: Tensor, _ outputSize: Size2) -> [Float] {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var result: [Float] = []
    for n in 0..<batch {
        for channel in 0..<channels {
            for row in 0..<outputSize.height {
                let rowStart = Int((Double(row * height) / Double(outputSize.height)).rounded(.down))
                let rowEnd = Int((Double((row + 1) * height) / Double(outputSize.height)).rounded(.up))
                for column in 0..<outputSize.width {
                    let columnStart = Int((Double(column * width) / Double(outputSize.width)).rounded(.down))
                    let columnEnd = Int((Double((column + 1) * width) / Double(outputSize.width)).rounded(.up))
                    var total: Double = 0
                    for inputRow in rowStart..<rowEnd {
                        for inputColumn in columnStart..<columnEnd {
                            total += Double(x[n, channel, inputRow, inputColumn])
                        }
                    }
                    result.append(Float(total / Double((rowEnd - rowStart) * (columnEnd - columnStart))))
                }
            }
        }
    }
    return result
}

final class AdaptivePoolingTests: XCTestCase {
    private let sizes: [(input: [Int], output: Size2)] = [
        ([2, 3, 5, 7], Size2(2, 3)),
        ([1, 2, 6, 6], Size2(1)),
        ([1, 2, 3, 2], Size2(5, 4)),
        ([2, 2, 1, 1], Size2(7)),
        ([1, 1, 4, 5], Size2(4, 5)),
    ]

    func testForwardMatchesDirectLoops() {
        for (index, size) in sizes.enumerated() {
            var generator = RandomGenerator(seed: UInt64(70 + index))
            let x = Tensor.randomNormal(size.input, generator: &generator)
            let output = adaptiveAvgPool2d(x, outputSize: size.output)
            XCTAssertEqual(output.shape, [size.input[0], size.input[1], size.output.height, size.output.width])
            assertClose(output.scalars, referenceAdaptivePooling(x, size.output), "\(size.input) to \(size.output)")
        }
    }

    func testLargerOutputRepeatsValues() {
        let x = Tensor([2.5, -1], shape: [1, 2, 1, 1])
        let output = adaptiveAvgPool2d(x, outputSize: Size2(7))
        XCTAssertEqual(output.scalars, Array(repeating: 2.5, count: 49) + Array(repeating: -1, count: 49))
    }

    func testGradientsMatchFiniteDifferences() {
        for (index, size) in sizes.enumerated() {
            var generator = RandomGenerator(seed: UInt64(80 + index))
            let x = Tensor.randomNormal(size.input, generator: &generator)
            let result = checkGradients(of: [x], step: 1e-2) { tensors in
                adaptiveAvgPool2d(tensors[0], outputSize: size.output)
            }
            XCTAssertLessThan(result.maximumRelativeError, 5e-3, "\(size.input) to \(size.output): worst \(result.worst)")
        }
    }
}
