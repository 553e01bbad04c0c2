import TestSupport
import XCTest

@testable import Tensors

/// One convolution setting to test, small enough for finite differences.
private struct ConvolutionCase {
    var name: String
    var inputShape: [Int]
    var outputChannels: Int
    var kernel: Size2
    var stride = Size2(1)
    var padding = Size2(0)
    var dilation = Size2(1)
    var groups = 1
    var hasBias = true

    var weightShape: [Int] { [outputChannels, inputShape[1] / groups, kernel.height, kernel.width] }
}

private let convolutionCases: [ConvolutionCase] = [
    ConvolutionCase(name: "plain 3x3", inputShape: [2, 3, 5, 5], outputChannels: 4, kernel: Size2(3)),
    ConvolutionCase(name: "padding 1", inputShape: [2, 3, 4, 4], outputChannels: 2, kernel: Size2(3), padding: Size2(1)),
    ConvolutionCase(
        name: "stride 2 uneven", inputShape: [1, 2, 7, 6], outputChannels: 3, kernel: Size2(3, 2), stride: Size2(2),
        padding: Size2(1, 0)),
    ConvolutionCase(
        name: "dilation 2", inputShape: [1, 2, 7, 7], outputChannels: 3, kernel: Size2(3), padding: Size2(2),
        dilation: Size2(2)),
    ConvolutionCase(name: "groups 2", inputShape: [2, 4, 5, 5], outputChannels: 6, kernel: Size2(3), padding: Size2(1), groups: 2),
    ConvolutionCase(name: "depthwise", inputShape: [1, 3, 5, 5], outputChannels: 3, kernel: Size2(3), groups: 3),
    ConvolutionCase(name: "1x1 no bias", inputShape: [2, 5, 3, 3], outputChannels: 4, kernel: Size2(1), hasBias: false),
    ConvolutionCase(
        name: "all options", inputShape: [1, 4, 8, 7], outputChannels: 2, kernel: Size2(3, 2), stride: Size2(2, 1),
        padding: Size2(1, 2), dilation: Size2(1, 2), groups: 2),
]

/// Direct 7-loop cross-correlation, the definition that `conv2d` must match.
private func referenceConvolution(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ setting: ConvolutionCase) -> [Float] {
    let (batch, inputChannels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (outputChannels, kernelHeight, kernelWidth) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let channelsPerGroup = inputChannels / setting.groups
    let outputsPerGroup = outputChannels / setting.groups
    let outputHeight = (height + 2 * setting.padding.height - setting.dilation.height * (kernelHeight - 1) - 1) / setting.stride.height + 1
    let outputWidth = (width + 2 * setting.padding.width - setting.dilation.width * (kernelWidth - 1) - 1) / setting.stride.width + 1

    var result: [Float] = []
    for n in 0..<batch {
        for outputChannel in 0..<outputChannels {
            let group = outputChannel / outputsPerGroup
            for outputRow in 0..<outputHeight {
                for outputColumn in 0..<outputWidth {
                    var total = Double(bias?[outputChannel] ?? 0)
                    for groupChannel in 0..<channelsPerGroup {
                        for kernelRow in 0..<kernelHeight {
                            for kernelColumn in 0..<kernelWidth {
                                let row = outputRow * setting.stride.height - setting.padding.height + kernelRow * setting.dilation.height
                                let column = outputColumn * setting.stride.width - setting.padding.width + kernelColumn * setting.dilation.width
                                guard row >= 0, row < height, column >= 0, column < width else {
                                    continue
                                }
                                let input = x[n, group * channelsPerGroup + groupChannel, row, column]
                                total += Double(input) * Double(weight[outputChannel, groupChannel, kernelRow, kernelColumn])
                            }
                        }
                    }
                    result.append(Float(total))
                }
            }
        }
    }
    return result
}

final class ConvolutionTests: XCTestCase {
    private func makeInputs(_ setting: ConvolutionCase, seed: UInt64) -> (x: Tensor, weight: Tensor, bias: Tensor?) {
        var generator = RandomGenerator(seed: seed)
        let x = Tensor.randomNormal(setting.inputShape, generator: &generator)
        let weight = Tensor.randomNormal(setting.weightShape, standardDeviation: 0.5, generator: &generator)
        let bias = setting.hasBias ? Tensor.randomNormal([setting.outputChannels], generator: &generator) : nil
        return (x, weight, bias)
    }

    private func convolve(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ setting: ConvolutionCase) -> Tensor {
        conv2d(
            x, weight: weight, bias: bias, stride: setting.stride, padding: setting.padding, dilation: setting.dilation,
            groups: setting.groups)
    }

    func testForwardMatchesDirectLoops() {
        for (index, setting) in convolutionCases.enumerated() {
            let (x, weight, bias) = makeInputs(setting, seed: UInt64(10 + index))
            let output = convolve(x, weight, bias, setting)
            let expected = referenceConvolution(x, weight, bias, setting)
            assertClose(output.scalars, expected, setting.name)
        }
    }

    func testOutputShapeFollowsFormula() {
        let setting = convolutionCases[7]
        let (x, weight, bias) = makeInputs(setting, seed: 3)
        let output = convolve(x, weight, bias, setting)
        // H: (8 + 2 - 1 * 2 - 1) / 2 + 1 = 4; W: (7 + 4 - 2 * 1 - 1) / 1 + 1 = 9.
        XCTAssertEqual(output.shape, [1, 2, 4, 9])
    }

    func testGradientsMatchFiniteDifferences() {
        for (index, setting) in convolutionCases.enumerated() {
            let (x, weight, bias) = makeInputs(setting, seed: UInt64(20 + index))
            var inputs = [x, weight]
            if let bias {
                inputs.append(bias)
            }
            let result = checkGradients(of: inputs, step: 1e-2) { tensors in
                self.convolve(tensors[0], tensors[1], setting.hasBias ? tensors[2] : nil, setting)
            }
            XCTAssertLessThan(result.maximumRelativeError, 5e-3, "\(setting.name): worst \(result.worst)")
        }
    }

    func testGradientSkipsInputWithoutGradient() {
        let setting = convolutionCases[1]
        let (x, weight, bias) = makeInputs(setting, seed: 5)
        weight.requiresGradient = true
        let output = convolve(x, weight, bias, setting)
        sum(output).backward()
        XCTAssertNil(x.grad)
        XCTAssertNotNil(weight.grad)
        XCTAssertNil(bias?.grad)
    }

    func testRepeatedCallsReuseCachedPlan() {
        // A second call of the same configuration runs through the cached primitives and
        // buffers; it must not see anything of the first call's tensors.
        let setting = convolutionCases[4]
        let first = makeInputs(setting, seed: 6)
        let second = makeInputs(setting, seed: 7)
        _ = convolve(first.x, first.weight, first.bias, setting)
        let output = convolve(second.x, second.weight, second.bias, setting)
        assertClose(output.scalars, referenceConvolution(second.x, second.weight, second.bias, setting), "second call")
    }
}

/// Winograd's algorithm against the direct loops and the direct algorithm, on a shape where the
/// automatic choice selects it.
final class WinogradConvolutionTests: XCTestCase {
    private let setting = ConvolutionCase(
        name: "winograd 3x3", inputShape: [2, 16, 8, 8], outputChannels: 16, kernel: Size2(3), padding: Size2(1))

    private func makeInputs(seed: UInt64) -> (x: Tensor, weight: Tensor, bias: Tensor) {
        var generator = RandomGenerator(seed: seed)
        let x = Tensor.randomNormal(setting.inputShape, generator: &generator)
        let weight = Tensor.randomNormal(setting.weightShape, standardDeviation: 0.1, generator: &generator)
        let bias = Tensor.randomNormal([setting.outputChannels], generator: &generator)
        return (x, weight, bias)
    }

    private var configuration: ConvolutionConfiguration {
        ConvolutionConfiguration(
            inputShape: setting.inputShape, weightShape: setting.weightShape, biasShape: [setting.outputChannels],
            stride: Size2(1), padding: setting.padding, dilation: Size2(1), groups: 1, algorithm: .automatic)
    }

    /// Skips unless oneDNN implements Winograd on this CPU (AVX-512), so that the other tests
    /// really exercise it.
    private func requireWinograd() throws {
        let (x, weight, bias) = makeInputs(seed: 1)
        x.requiresGradient = true
        weight.requiresGradient = true
        sum(conv2d(x, weight: weight, bias: bias, padding: setting.padding)).backward()
        let names = OneDNN.shared.withExclusiveAccess { ConvolutionPlan.cached(configuration).implementationNames }
        guard names.forward.contains("wino") else {
            throw XCTSkip("oneDNN has no Winograd convolution for this CPU (it chose \(names.forward))")
        }
        XCTAssertTrue(names.data?.contains("wino") == true, "data gradient ran \(names.data ?? "nothing")")
        XCTAssertTrue(names.weights?.contains("wino") == true, "weight gradient ran \(names.weights ?? "nothing")")
    }

    func testAutomaticChoiceLeavesOtherShapesDirect() {
        let shapes: [(input: [Int], weight: [Int], stride: Int)] = [
            ([2, 3, 8, 8], [16, 3, 3, 3], 1),  // 3 input channels
            ([2, 16, 2, 2], [16, 16, 3, 3], 1),  // 2x2 output
            ([2, 16, 8, 8], [16, 16, 3, 3], 2),  // stride 2
            ([2, 16, 8, 8], [16, 16, 1, 1], 1),  // 1x1 kernel
        ]
        for shape in shapes {
            let configuration = ConvolutionConfiguration(
                inputShape: shape.input, weightShape: shape.weight, biasShape: nil, stride: Size2(shape.stride),
                padding: Size2(1), dilation: Size2(1), groups: 1, algorithm: .automatic)
            XCTAssertFalse(configuration.prefersWinograd, "\(shape)")
        }
        let direct = ConvolutionConfiguration(
            inputShape: setting.inputShape, weightShape: setting.weightShape, biasShape: nil, stride: Size2(1),
            padding: Size2(1), dilation: Size2(1), groups: 1, algorithm: .direct)
        XCTAssertFalse(direct.prefersWinograd)
        XCTAssertTrue(configuration.prefersWinograd)
    }

    func testForwardMatchesDirectLoops() throws {
        try requireWinograd()
        let (x, weight, bias) = makeInputs(seed: 2)
        let output = conv2d(x, weight: weight, bias: bias, padding: setting.padding)
        assertClose(output.scalars, referenceConvolution(x, weight, bias, setting), "winograd forward")
    }

    /// Finite differences cannot check Winograd at float32 precision: its rounding changes with
    /// each perturbed input by more than the direct algorithm's, which swamps the difference
    /// quotient. Its gradients are compared with the direct algorithm's instead, which the
    /// finite-difference tests above check.
    func testGradientsMatchDirectAlgorithm() throws {
        try requireWinograd()
        let (x, weight, bias) = makeInputs(seed: 3)
        let output = makeInputs(seed: 4).x  // a projection with the output's shape
        func gradients(_ algorithm: ConvolutionAlgorithm) -> [[Float]] {
            let saved = ConvolutionAlgorithm.current
            ConvolutionAlgorithm.current = algorithm
            defer { ConvolutionAlgorithm.current = saved }
            for tensor in [x, weight, bias] {
                tensor.requiresGradient = true
                tensor.grad = nil
            }
            sum(conv2d(x, weight: weight, bias: bias, padding: setting.padding) * output).backward()
            return [x, weight, bias].map { $0.grad?.scalars ?? [] }
        }
        let winograd = gradients(.automatic)
        let direct = gradients(.direct)
        for (name, pair) in zip(["x", "weight", "bias"], zip(winograd, direct)) {
            assertClose(pair.0, pair.1, absolute: 1e-5, relative: 1e-4, "\(name) gradient")
        }
    }
}

extension ConvolutionCase {
    /// Returns random input, weight and, when the case has one, bias, in that order.
    fileprivate func makeTensors(seed: UInt64) -> [Tensor] {
        var generator = RandomGenerator(seed: seed)
        var tensors = [
            Tensor.randomNormal(inputShape, generator: &generator),
            Tensor.randomNormal(weightShape, standardDeviation: 0.5, generator: &generator),
        ]
        if hasBias {
            tensors.append(Tensor.randomNormal([outputChannels], generator: &generator))
        }
        return tensors
    }

    /// Returns `conv2d` of tensors from `makeTensors` with this case's stride and padding.
    fileprivate func convolve(_ tensors: [Tensor]) -> Tensor {
        conv2d(tensors[0], weight: tensors[1], bias: hasBias ? tensors[2] : nil, stride: stride, padding: padding)
    }

    /// Returns the configuration `conv2d` builds for this case with `algorithm`.
    fileprivate func configuration(_ algorithm: ConvolutionAlgorithm) -> ConvolutionConfiguration {
        ConvolutionConfiguration(
            inputShape: inputShape, weightShape: weightShape, biasShape: nil, stride: stride, padding: padding,
            dilation: Size2(1), groups: 1, algorithm: algorithm)
    }
}

/// Checks each case's forward pass against the direct loops and its gradients against finite
/// differences, with seeds from `seed` on.
private func assertMatchesLoopsAndFiniteDifferences(
    _ settings: [ConvolutionCase], seed: UInt64, file: StaticString = #filePath, line: UInt = #line
) {
    for (index, setting) in settings.enumerated() {
        let tensors = setting.makeTensors(seed: seed + UInt64(index))
        let expected = referenceConvolution(tensors[0], tensors[1], setting.hasBias ? tensors[2] : nil, setting)
        assertClose(setting.convolve(tensors).scalars, expected, setting.name, file: file, line: line)

        let result = checkGradients(of: setting.makeTensors(seed: seed + 10 + UInt64(index)), step: 1e-2) { tensors in
            setting.convolve(tensors)
        }
        XCTAssertLessThan(result.maximumRelativeError, 5e-3, "\(setting.name): worst \(result.worst)", file: file, line: line)
    }
}

/// Convolutions of a 1x1 input to a 1x1 output, which run as a matrix product with one kernel tap.
final class SingleTapConvolutionTests: XCTestCase {
    private let settings = [
        ConvolutionCase(name: "1x1 kernel", inputShape: [3, 8, 1, 1], outputChannels: 5, kernel: Size2(1)),
        ConvolutionCase(name: "3x3 padding 1", inputShape: [2, 6, 1, 1], outputChannels: 4, kernel: Size2(3), padding: Size2(1), hasBias: false),
        ConvolutionCase(
            name: "3x3 stride 2 padding 1", inputShape: [2, 4, 1, 1], outputChannels: 3, kernel: Size2(3), stride: Size2(2),
            padding: Size2(1)),
        ConvolutionCase(name: "3x1 padding (1, 0)", inputShape: [2, 3, 1, 1], outputChannels: 2, kernel: Size2(3, 1), padding: Size2(1, 0)),
    ]

    func testSingleTapChoice() {
        for setting in settings {
            for algorithm in ConvolutionAlgorithm.allCases {
                XCTAssertEqual(setting.configuration(algorithm).usesSingleTap, algorithm == .automatic, "\(setting.name), \(algorithm)")
            }
        }
        // A 2x2 input needs more than one tap.
        let larger = ConvolutionCase(name: "2x2", inputShape: [1, 4, 2, 2], outputChannels: 4, kernel: Size2(1), stride: Size2(2))
        XCTAssertFalse(larger.configuration(.automatic).usesSingleTap)
    }

    func testOutputShapeIsOnePixel() {
        for setting in settings {
            let output = setting.convolve(setting.makeTensors(seed: 30))
            XCTAssertEqual(output.shape, [setting.inputShape[0], setting.outputChannels, 1, 1], setting.name)
        }
    }

    func testMatchesLoopsAndFiniteDifferences() {
        assertMatchesLoopsAndFiniteDifferences(settings, seed: 30)
    }
}

/// 1x1 convolutions to outputs of at most 2x2 pixels, which run as a matrix product of the
/// gathered input pixels.
final class PixelProductConvolutionTests: XCTestCase {
    private let settings = [
        ConvolutionCase(name: "2x2", inputShape: [2, 5, 2, 2], outputChannels: 3, kernel: Size2(1)),
        ConvolutionCase(name: "4x4 stride 2", inputShape: [2, 4, 4, 4], outputChannels: 3, kernel: Size2(1), stride: Size2(2)),
        ConvolutionCase(name: "1x3", inputShape: [1, 3, 1, 3], outputChannels: 2, kernel: Size2(1), hasBias: false),
        ConvolutionCase(name: "2x2 stride 2 to 1x1", inputShape: [2, 4, 2, 2], outputChannels: 3, kernel: Size2(1), stride: Size2(2)),
    ]

    func testPixelProductChoice() {
        for setting in settings {
            XCTAssertTrue(setting.configuration(.automatic).usesPixelProduct, setting.name)
        }
        // Three by three pixels are left to oneDNN.
        let larger = ConvolutionCase(name: "3x3", inputShape: [1, 4, 3, 3], outputChannels: 4, kernel: Size2(1))
        XCTAssertFalse(larger.configuration(.automatic).usesPixelProduct)
    }

    func testMatchesLoopsAndFiniteDifferences() {
        assertMatchesLoopsAndFiniteDifferences(settings, seed: 50)
    }
}

/// Convolutions to a 1x1 output from a larger input, which run as a matrix product of the input
/// window.
final class WindowProductConvolutionTests: XCTestCase {
    private let settings = [
        ConvolutionCase(
            name: "3x3 stride 2 padding 1 from 2x2", inputShape: [2, 3, 2, 2], outputChannels: 4, kernel: Size2(3),
            stride: Size2(2), padding: Size2(1)),
        ConvolutionCase(name: "3x3 from 3x3", inputShape: [1, 2, 3, 3], outputChannels: 3, kernel: Size2(3)),
        ConvolutionCase(name: "2x3 from 2x3", inputShape: [2, 2, 2, 3], outputChannels: 2, kernel: Size2(2, 3), hasBias: false),
    ]

    func testWindowProductChoice() {
        for setting in settings {
            XCTAssertTrue(setting.configuration(.automatic).usesWindowProduct, setting.name)
        }
    }

    func testMatchesLoopsAndFiniteDifferences() {
        assertMatchesLoopsAndFiniteDifferences(settings, seed: 70)
    }
}
