import CDNNL

/// The algorithm `conv2d` computes convolutions with.
public enum ConvolutionAlgorithm: String, CaseIterable, Codable, Sendable {
    /// Winograd's minimal filtering F(4x4, 3x3) for 3x3, stride-1, undilated, ungrouped
    /// convolutions with at least 16 input channels and outputs of at least 4x4 where oneDNN
    /// implements it (AVX-512), and the direct algorithm elsewhere. On VGG19's layers it takes 0.3
    /// to 0.5 of the direct time. Its results differ from the direct algorithm's by rounding,
    /// about 1e-6 relative.
    ///
    /// Some small convolutions run as matrix products, where oneDNN's kernels reached only 25 to
    /// 32 GFLOP/s on ResNet50's last stages at 32x32 images. An ungrouped, undilated convolution
    /// of a 1x1 input to a 1x1 output meets the input with one kernel tap, so it multiplies by that
    /// tap. Other convolutions to a 1x1 output multiply the input window. 1x1 convolutions without
    /// padding to outputs of at most 2x2 pixels multiply the gathered pixels.
    case automatic
    /// The direct algorithm everywhere, as PyTorch runs convolutions on CPU.
    case direct

    /// The algorithm that `conv2d` uses from now on. Convolutions already in a recorded graph
    /// keep the algorithm they were computed with for their backward pass.
    ///
    /// NOTE: the setting is process-wide, not per thread, like `GradientMode`.
    nonisolated(unsafe) public static var current = ConvolutionAlgorithm.automatic
}

/// 2-D convolution (cross-correlation, as PyTorch) of `x` `[N, C_in, H, W]` with `weight`
/// `[C_out, C_in / groups, kH, kW]` and optional `bias` `[C_out]`, giving `[N, C_out, H_out, W_out]`
/// with `H_out = (H + 2 * padding - dilation * (kH - 1) - 1) / stride + 1`.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Size2 = Size2(1), padding: Size2 = Size2(0),
    dilation: Size2 = Size2(1), groups: Int = 1
) -> Tensor {
    let configuration = ConvolutionConfiguration(
        inputShape: x.shape, weightShape: weight.shape, biasShape: bias?.shape, stride: stride, padding: padding,
        dilation: dilation, groups: groups)
    if configuration.usesSingleTap {
        return singleTapConvolution(x, weight: weight, bias: bias, configuration)
    }
    if configuration.usesPixelProduct {
        return pixelProductConvolution(x, weight: weight, bias: bias, configuration)
    }
    if configuration.usesWindowProduct {
        return windowProductConvolution(x, weight: weight, bias: bias, configuration)
    }
    let output = Tensor.uninitialized(configuration.outputShape)

    OneDNN.shared.withExclusiveAccess {
        ConvolutionPlan.cached(configuration).forward(x: x, weight: weight, bias: bias, output: output)
    }

    var inputs = [x, weight]
    if let bias {
        inputs.append(bias)
    }
    return Tensor.recordKernelOperation(output, inputs: inputs) { gradient in
        let gradients = OneDNN.shared.withExclusiveAccess {
            ConvolutionPlan.cached(configuration).backward(
                outputGradient: gradient, x: x, weight: weight, computesInputGradient: x.requiresGradient,
                computesParameterGradients: weight.requiresGradient || bias?.requiresGradient == true)
        }
        var result = [gradients.input, gradients.weight]
        if bias != nil {
            result.append(gradients.bias)
        }
        return result
    }
}

/// Computes a convolution whose 1x1 output meets its 1x1 input with the kernel tap at
/// (padding.height, padding.width) only: `x · tapᵀ + bias` on `[N, C_in]`.
private func singleTapConvolution(_ x: Tensor, weight: Tensor, bias: Tensor?, _ configuration: ConvolutionConfiguration) -> Tensor {
    let batch = configuration.batch
    let inputChannels = configuration.inputChannels
    let outputChannels = configuration.outputChannels
    let tap: Tensor
    if configuration.kernel == Size2(1) {
        tap = weight.reshaped([outputChannels, inputChannels])
    } else {
        tap = kernelTap(weight, row: configuration.padding.height, column: configuration.padding.width)
    }
    let product = linear(x.reshaped([batch, inputChannels]), weight: tap, bias: bias)
    return product.reshaped([batch, outputChannels, 1, 1])
}

/// Computes a convolution to a 1x1 output as a matrix product of its input window
/// `[N, C_in · kH · kW]` (zero where the window lies in the padding) with the weight
/// `[C_out, C_in · kH · kW]`.
private func windowProductConvolution(_ x: Tensor, weight: Tensor, bias: Tensor?, _ configuration: ConvolutionConfiguration) -> Tensor {
    let window = gatherWindow(x, kernel: configuration.kernel, padding: configuration.padding)
    let columns = configuration.inputChannels * configuration.kernel.height * configuration.kernel.width
    let product = linear(window, weight: weight.reshaped([configuration.outputChannels, columns]), bias: bias)
    return product.reshaped(configuration.outputShape)
}

/// Returns the window of `x` `[N, C, H, W]` under a kernel placed at the top-left output pixel,
/// `[N, C · kH · kW]`: `x[n, c, kh - padding.height, kw - padding.width]`, or zero in the padding.
private func gatherWindow(_ x: Tensor, kernel: Size2, padding: Size2) -> Tensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let taps = kernel.height * kernel.width
    let result = Tensor(zeros: [batch, channels * taps])

    // Pairs of (input offset, window offset) for every tap inside the input.
    var pairs: [(input: Int, window: Int)] = []
    for n in 0..<batch {
        for channel in 0..<channels {
            for tapRow in 0..<kernel.height {
                for tapColumn in 0..<kernel.width {
                    let (row, column) = (tapRow - padding.height, tapColumn - padding.width)
                    guard row >= 0, row < height, column >= 0, column < width else {
                        continue
                    }
                    pairs.append((
                        ((n * channels + channel) * height + row) * width + column,
                        (n * channels + channel) * taps + tapRow * kernel.width + tapColumn))
                }
            }
        }
    }
    let source = x.storage.pointer
    let destination = result.storage.pointer
    for pair in pairs {
        destination[pair.window] = source[pair.input]
    }

    let shape = x.shape
    return Tensor.recordOperation(result, inputs: [x]) { gradient in
        let full = Tensor(zeros: shape)
        let values = gradient.storage.pointer
        let target = full.storage.pointer
        for pair in pairs {
            target[pair.input] = values[pair.window]
        }
        return [full]
    }
}

/// Computes a 1x1 convolution without padding as a matrix product of its gathered input pixels
/// `[N · H_out · W_out, C_in]` with the weight `[C_out, C_in]`.
private func pixelProductConvolution(_ x: Tensor, weight: Tensor, bias: Tensor?, _ configuration: ConvolutionConfiguration) -> Tensor {
    let pixels = gatherPixels(x, stride: configuration.stride, outputSize: configuration.outputSize)
    let product = linear(pixels, weight: weight.reshaped([configuration.outputChannels, configuration.inputChannels]), bias: bias)
    return scatterPixels(product, shape: configuration.outputShape)
}

/// Returns the pixels `x[n, :, i · stride, j · stride]` of `x` `[N, C, H, W]` as rows
/// `[N · H_out · W_out, C]`, row `(n · H_out + i) · W_out + j`; the gradient goes back to those pixels.
private func gatherPixels(_ x: Tensor, stride: Size2, outputSize: Size2) -> Tensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let pixelCount = outputSize.height * outputSize.width
    let result = Tensor.uninitialized([batch * pixelCount, channels])
    let source = x.storage.pointer
    let destination = result.storage.pointer

    // Calls `body` with the index of every gathered element (n, c, pixel) in x and in the rows,
    // with the images split across the kernel threads.
    func forEachPixel(_ body: (_ input: Int, _ row: Int) -> Void) {
        parallelChunks(batch, minimumChunk: imagesPerChunk(valuesPerImage: channels * pixelCount)) { images in
            for n in images {
                for channel in 0..<channels {
                    for pixel in 0..<pixelCount {
                        let (row, column) = (pixel / outputSize.width, pixel % outputSize.width)
                        let input = ((n * channels + channel) * height + row * stride.height) * width + column * stride.width
                        body(input, (n * pixelCount + pixel) * channels + channel)
                    }
                }
            }
        }
    }
    forEachPixel { input, row in
        destination[row] = source[input]
    }

    let shape = x.shape
    return Tensor.recordOperation(result, inputs: [x]) { gradient in
        let full = Tensor(zeros: shape)
        let values = gradient.storage.pointer
        let target = full.storage.pointer
        forEachPixel { input, row in
            target[input] = values[row]
        }
        return [full]
    }
}

/// Returns the images per task when copying `valuesPerImage` values per image across threads, so that
/// each task moves at least as many values as `parallelChunks` splits by default.
private func imagesPerChunk(valuesPerImage: Int) -> Int {
    max(1, 32_768 / max(1, valuesPerImage))
}

/// Returns rows `[N · H · W, C]`, row `(n · H + i) · W + j`, as `[N, C, H, W]`: the inverse of
/// `gatherPixels` with stride 1.
private func scatterPixels(_ rows: Tensor, shape: [Int]) -> Tensor {
    let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
    let pixelCount = height * width
    let result = Tensor.uninitialized(shape)
    let source = rows.storage.pointer
    let destination = result.storage.pointer
    parallelChunks(batch, minimumChunk: imagesPerChunk(valuesPerImage: channels * pixelCount)) { images in
        for n in images {
            for channel in 0..<channels {
                for pixel in 0..<pixelCount {
                    destination[(n * channels + channel) * pixelCount + pixel] = source[(n * pixelCount + pixel) * channels + channel]
                }
            }
        }
    }

    return Tensor.recordOperation(result, inputs: [rows]) { gradient in
        [gatherPixels(gradient, stride: Size2(1), outputSize: Size2(height, width))]
    }
}

/// Returns `weight[:, :, row, column]` of a weight `[C_out, C_in, kH, kW]` as `[C_out, C_in]`;
/// its gradient is zero at every other tap.
private func kernelTap(_ weight: Tensor, row: Int, column: Int) -> Tensor {
    let (outputs, inputs, height, width) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    let taps = height * width
    let offset = row * width + column
    let result = Tensor.uninitialized([outputs, inputs])
    let source = weight.storage.pointer
    let destination = result.storage.pointer
    parallelChunks(outputs * inputs) { indices in
        for index in indices {
            destination[index] = source[index * taps + offset]
        }
    }

    let shape = weight.shape
    return Tensor.recordOperation(result, inputs: [weight]) { gradient in
        let full = Tensor(zeros: shape)
        let values = gradient.storage.pointer
        let target = full.storage.pointer
        parallelChunks(outputs * inputs) { indices in
            for index in indices {
                target[index * taps + offset] = values[index]
            }
        }
        return [full]
    }
}

/// Everything that selects a convolution primitive: shapes and hyper-parameters.
struct ConvolutionConfiguration: Hashable {
    var batch: Int
    var inputChannels: Int
    var inputSize: Size2
    var outputChannels: Int
    var kernel: Size2
    var stride: Size2
    var padding: Size2
    var dilation: Size2
    var groups: Int
    var hasBias: Bool
    var outputSize: Size2
    /// Whether to ask oneDNN for Winograd's algorithm first.
    var prefersWinograd: Bool
    /// Whether the convolution runs as a matrix product with its one kernel tap that meets the
    /// input: a 1x1 input and output, no groups, no dilation, padding inside the kernel.
    var usesSingleTap: Bool
    /// Whether the convolution runs as a matrix product of its gathered input pixels: a 1x1
    /// kernel without padding, groups or dilation, and an output of at most 2x2 pixels.
    var usesPixelProduct: Bool
    /// Whether the convolution runs as a matrix product of its input window: a 1x1 output, no
    /// groups, no dilation, and neither of the two cases above.
    var usesWindowProduct: Bool

    init(
        inputShape: [Int], weightShape: [Int], biasShape: [Int]?, stride: Size2, padding: Size2, dilation: Size2,
        groups: Int, algorithm: ConvolutionAlgorithm = .current
    ) {
        precondition(inputShape.count == 4, "conv2d: x must be [N, C, H, W], got shape \(inputShape)")
        precondition(weightShape.count == 4, "conv2d: weight must be [C_out, C_in / groups, kH, kW], got shape \(weightShape)")
        precondition(groups >= 1, "conv2d: groups must be at least 1, got \(groups)")
        precondition(stride.height >= 1 && stride.width >= 1, "conv2d: stride must be positive, got \(stride)")
        precondition(padding.height >= 0 && padding.width >= 0, "conv2d: padding must not be negative, got \(padding)")
        precondition(dilation.height >= 1 && dilation.width >= 1, "conv2d: dilation must be positive, got \(dilation)")

        batch = inputShape[0]
        inputChannels = inputShape[1]
        inputSize = Size2(inputShape[2], inputShape[3])
        outputChannels = weightShape[0]
        kernel = Size2(weightShape[2], weightShape[3])
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        hasBias = biasShape != nil

        precondition(
            inputChannels % groups == 0 && outputChannels % groups == 0,
            "conv2d: groups \(groups) must divide input channels \(inputChannels) and output channels \(outputChannels)")
        precondition(
            weightShape[1] * groups == inputChannels,
            "conv2d: weight shape \(weightShape) expects \(weightShape[1] * groups) input channels with groups \(groups), x has \(inputChannels)")
        if let biasShape {
            precondition(biasShape == [outputChannels], "conv2d: bias must have shape [\(outputChannels)], got \(biasShape)")
        }

        let extentHeight = dilation.height * (kernel.height - 1) + 1
        let extentWidth = dilation.width * (kernel.width - 1) + 1
        let paddedHeight = inputSize.height + 2 * padding.height
        let paddedWidth = inputSize.width + 2 * padding.width
        precondition(
            paddedHeight >= extentHeight && paddedWidth >= extentWidth,
            "conv2d: the dilated kernel (\(extentHeight), \(extentWidth)) is larger than the padded input (\(paddedHeight), \(paddedWidth))")
        outputSize = Size2((paddedHeight - extentHeight) / stride.height + 1, (paddedWidth - extentWidth) / stride.width + 1)

        // Measured with oneDNN 2.6 on AVX-512: Winograd takes 0.32 to 0.6 of the direct time from
        // 8x8 outputs up, 0.6 to 0.8 at 4x4, and 2 to 4 times as long at 2x2 or with 3 input channels.
        prefersWinograd =
            algorithm == .automatic && kernel == Size2(3) && stride == Size2(1) && dilation == Size2(1)
            && groups == 1 && inputChannels >= 16 && outputSize.height >= 4 && outputSize.width >= 4
        usesSingleTap =
            algorithm == .automatic && inputSize == Size2(1) && outputSize == Size2(1) && groups == 1
            && dilation == Size2(1) && padding.height < kernel.height && padding.width < kernel.width
        usesPixelProduct =
            algorithm == .automatic && !usesSingleTap && kernel == Size2(1) && padding == Size2(0) && groups == 1
            && dilation == Size2(1) && outputSize.height * outputSize.width <= 4
        usesWindowProduct =
            algorithm == .automatic && !usesSingleTap && !usesPixelProduct && outputSize == Size2(1) && groups == 1
            && dilation == Size2(1)
    }

    var inputShape: [Int] { [batch, inputChannels, inputSize.height, inputSize.width] }
    var outputShape: [Int] { [batch, outputChannels, outputSize.height, outputSize.width] }
    var weightShape: [Int] { [outputChannels, inputChannels / groups, kernel.height, kernel.width] }

    /// The weight dimensions passed to oneDNN: grouped convolutions get a leading group axis,
    /// which leaves PyTorch's `[C_out, C_in / groups, kH, kW]` memory layout unchanged.
    var oneDNNWeightDimensions: [Int] {
        if groups == 1 {
            return weightShape
        }
        return [groups, outputChannels / groups, inputChannels / groups, kernel.height, kernel.width]
    }

    var plainWeightTag: dnnl_format_tag_t { groups == 1 ? dnnl_oihw : dnnl_goihw }
}

/// The oneDNN primitives for one convolution configuration, with the reorders between plain
/// NCHW / OIHW tensors and the blocked layouts the primitives choose. Backward primitives are
/// created on first use.
///
/// NOTE: every call reorders its plain inputs into blocked layouts and its results back. Keeping
/// activations blocked between layers would remove most of these reorders.
final class ConvolutionPlan {
    private let configuration: ConvolutionConfiguration
    private let forwardPrimitive: OneDNNPrimitive
    private let forwardSource: LayoutAdapter
    private let forwardWeights: LayoutAdapter
    private let forwardDestination: LayoutAdapter
    private let biasMemory: OneDNNMemory?

    private var dataGradientPlan: DataGradientPlan?
    private var weightGradientPlan: WeightGradientPlan?

    private struct DataGradientPlan {
        let primitive: OneDNNPrimitive
        let outputGradient: LayoutAdapter
        let weights: LayoutAdapter
        let inputGradient: LayoutAdapter
    }

    private struct WeightGradientPlan {
        let primitive: OneDNNPrimitive
        let source: LayoutAdapter
        let outputGradient: LayoutAdapter
        let weightGradient: LayoutAdapter
        let biasGradient: OneDNNMemory?
    }

    /// Returns the plan for `configuration`, built on first use. Call it inside `OneDNN.withExclusiveAccess`.
    static func cached(_ configuration: ConvolutionConfiguration) -> ConvolutionPlan {
        OneDNN.shared.plan(for: configuration) { ConvolutionPlan(configuration) }
    }

    private init(_ configuration: ConvolutionConfiguration) {
        self.configuration = configuration

        var sourceAny = oneDNNMemoryDescriptor(configuration.inputShape, dnnl_format_tag_any)
        var weightsAny = oneDNNMemoryDescriptor(configuration.oneDNNWeightDimensions, dnnl_format_tag_any)
        var destinationAny = oneDNNMemoryDescriptor(configuration.outputShape, dnnl_format_tag_any)
        // A zero memory descriptor disables oneDNN's bias term.
        var bias = configuration.hasBias ? oneDNNMemoryDescriptor([configuration.outputChannels], dnnl_x) : dnnl_memory_desc_t()
        var strides = oneDNNDimensions([configuration.stride.height, configuration.stride.width])
        // oneDNN counts dilation from 0 (no gaps), PyTorch from 1.
        var dilates = oneDNNDimensions([configuration.dilation.height - 1, configuration.dilation.width - 1])
        var padding = oneDNNDimensions([configuration.padding.height, configuration.padding.width])

        forwardPrimitive = configuration.makePrimitive(name: "convolution forward", hint: nil) { algorithm in
            var descriptor = dnnl_convolution_desc_t()
            let status = withDimensionPointers(&strides, &dilates, &padding) { strides, dilates, padding in
                dnnl_dilated_convolution_forward_desc_init(
                    &descriptor, dnnl_forward_training, algorithm, &sourceAny, &weightsAny,
                    &bias, &destinationAny, strides, dilates, padding, padding)
            }
            return (status, descriptor)
        }

        forwardSource = LayoutAdapter(
            plain: configuration.plainSourceDescriptor,
            primitiveLayout: forwardPrimitive.memoryDescriptor(dnnl_query_src_md), direction: .input)
        forwardWeights = LayoutAdapter(
            plain: configuration.plainWeightsDescriptor,
            primitiveLayout: forwardPrimitive.memoryDescriptor(dnnl_query_weights_md), direction: .input)
        forwardDestination = LayoutAdapter(
            plain: configuration.plainDestinationDescriptor,
            primitiveLayout: forwardPrimitive.memoryDescriptor(dnnl_query_dst_md), direction: .output)
        biasMemory = configuration.hasBias ? OneDNNMemory(bias, allocate: false) : nil
    }

    /// The oneDNN implementations of the forward, data-gradient and weight-gradient passes;
    /// nil for a backward pass not yet run.
    var implementationNames: (forward: String, data: String?, weights: String?) {
        (
            forwardPrimitive.implementationName, dataGradientPlan?.primitive.implementationName,
            weightGradientPlan?.primitive.implementationName
        )
    }

    func forward(x: Tensor, weight: Tensor, bias: Tensor?, output: Tensor) {
        forwardSource.prepare(x)
        forwardWeights.prepare(weight)
        forwardDestination.prepare(output)
        var arguments = [
            (OneDNNArgument.source, forwardSource.primitiveMemory),
            (OneDNNArgument.weights, forwardWeights.primitiveMemory),
            (OneDNNArgument.destination, forwardDestination.primitiveMemory),
        ]
        if let bias, let biasMemory {
            biasMemory.bind(bias.storage.pointer)
            arguments.append((OneDNNArgument.bias, biasMemory))
        }

        withExtendedLifetime((x, weight, bias, output)) {
            OneDNN.shared.execute(forwardPrimitive.primitive, arguments)
            forwardDestination.finish()
        }
        forwardSource.releaseScratch()
        forwardWeights.releaseScratch()
        forwardDestination.releaseScratch()
    }

    /// Computes the gradients with respect to the input `[N, C_in, H, W]`, the weight
    /// `[C_out, C_in / groups, kH, kW]` and the bias `[C_out]`. Each is computed only on request,
    /// and the bias gradient only when the convolution has a bias.
    func backward(
        outputGradient: Tensor, x: Tensor, weight: Tensor, computesInputGradient: Bool, computesParameterGradients: Bool
    ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        var inputGradient: Tensor?
        var weightGradient: Tensor?
        var biasGradient: Tensor?
        // The output gradient reordered for the data pass, when the weights pass can read it as is.
        var sharedOutputGradient: OneDNNMemory?

        if computesInputGradient {
            let plan = dataGradientPlan ?? makeDataGradientPlan()
            dataGradientPlan = plan
            let result = Tensor.uninitialized(configuration.inputShape)
            plan.outputGradient.prepare(outputGradient)
            plan.weights.prepare(weight)
            plan.inputGradient.prepare(result)
            let arguments = [
                (OneDNNArgument.diffDestination, plan.outputGradient.primitiveMemory),
                (OneDNNArgument.weights, plan.weights.primitiveMemory),
                (OneDNNArgument.diffSource, plan.inputGradient.primitiveMemory),
            ]
            withExtendedLifetime((outputGradient, weight)) {
                OneDNN.shared.execute(plan.primitive.primitive, arguments)
                plan.inputGradient.finish()
            }
            // The blocked output gradient may serve the weights pass; the other two scratch
            // buffers go back now, which lowers the peak memory by an activation.
            plan.weights.releaseScratch()
            plan.inputGradient.releaseScratch()
            inputGradient = result
            sharedOutputGradient = plan.outputGradient.primitiveMemory
        }

        if computesParameterGradients {
            let plan = weightGradientPlan ?? makeWeightGradientPlan()
            weightGradientPlan = plan
            let weightResult = Tensor.uninitialized(configuration.weightShape)
            let biasResult = configuration.hasBias ? Tensor.uninitialized([configuration.outputChannels]) : nil

            plan.source.prepare(x)
            var outputGradientMemory: OneDNNMemory
            if let sharedOutputGradient, sameLayout(sharedOutputGradient, plan.outputGradient.primitiveMemory) {
                outputGradientMemory = sharedOutputGradient
            } else {
                plan.outputGradient.prepare(outputGradient)
                outputGradientMemory = plan.outputGradient.primitiveMemory
            }
            plan.weightGradient.prepare(weightResult)
            var arguments = [
                (OneDNNArgument.source, plan.source.primitiveMemory),
                (OneDNNArgument.diffDestination, outputGradientMemory),
                (OneDNNArgument.diffWeights, plan.weightGradient.primitiveMemory),
            ]
            if let biasResult, let memory = plan.biasGradient {
                memory.bind(biasResult.storage.pointer)
                arguments.append((OneDNNArgument.diffBias, memory))
            }
            withExtendedLifetime((outputGradient, x)) {
                OneDNN.shared.execute(plan.primitive.primitive, arguments)
                plan.weightGradient.finish()
            }
            weightGradient = weightResult
            biasGradient = biasResult
            plan.source.releaseScratch()
            plan.outputGradient.releaseScratch()
            plan.weightGradient.releaseScratch()
        }
        dataGradientPlan?.outputGradient.releaseScratch()
        return (inputGradient, weightGradient, biasGradient)
    }

    private func sameLayout(_ first: OneDNNMemory, _ second: OneDNNMemory) -> Bool {
        var firstDescriptor = first.descriptor
        var secondDescriptor = second.descriptor
        return dnnl_memory_desc_equal(&firstDescriptor, &secondDescriptor) != 0
    }

    private func makeDataGradientPlan() -> DataGradientPlan {
        var sourceAny = oneDNNMemoryDescriptor(configuration.inputShape, dnnl_format_tag_any)
        var weightsAny = oneDNNMemoryDescriptor(configuration.oneDNNWeightDimensions, dnnl_format_tag_any)
        var destinationAny = oneDNNMemoryDescriptor(configuration.outputShape, dnnl_format_tag_any)
        var strides = oneDNNDimensions([configuration.stride.height, configuration.stride.width])
        var dilates = oneDNNDimensions([configuration.dilation.height - 1, configuration.dilation.width - 1])
        var padding = oneDNNDimensions([configuration.padding.height, configuration.padding.width])

        let primitive = configuration.makePrimitive(name: "convolution backward data", hint: forwardPrimitive) { algorithm in
            var descriptor = dnnl_convolution_desc_t()
            let status = withDimensionPointers(&strides, &dilates, &padding) { strides, dilates, padding in
                dnnl_dilated_convolution_backward_data_desc_init(
                    &descriptor, algorithm, &sourceAny, &weightsAny, &destinationAny, strides, dilates,
                    padding, padding)
            }
            return (status, descriptor)
        }

        return DataGradientPlan(
            primitive: primitive,
            outputGradient: LayoutAdapter(
                plain: configuration.plainDestinationDescriptor,
                primitiveLayout: primitive.memoryDescriptor(dnnl_query_diff_dst_md), direction: .input),
            weights: LayoutAdapter(
                plain: configuration.plainWeightsDescriptor,
                primitiveLayout: primitive.memoryDescriptor(dnnl_query_weights_md), direction: .input),
            inputGradient: LayoutAdapter(
                plain: configuration.plainSourceDescriptor,
                primitiveLayout: primitive.memoryDescriptor(dnnl_query_diff_src_md), direction: .output))
    }

    private func makeWeightGradientPlan() -> WeightGradientPlan {
        var sourceAny = oneDNNMemoryDescriptor(configuration.inputShape, dnnl_format_tag_any)
        var weightsAny = oneDNNMemoryDescriptor(configuration.oneDNNWeightDimensions, dnnl_format_tag_any)
        var destinationAny = oneDNNMemoryDescriptor(configuration.outputShape, dnnl_format_tag_any)
        // A zero memory descriptor disables oneDNN's bias term.
        var bias = configuration.hasBias ? oneDNNMemoryDescriptor([configuration.outputChannels], dnnl_x) : dnnl_memory_desc_t()
        var strides = oneDNNDimensions([configuration.stride.height, configuration.stride.width])
        var dilates = oneDNNDimensions([configuration.dilation.height - 1, configuration.dilation.width - 1])
        var padding = oneDNNDimensions([configuration.padding.height, configuration.padding.width])
        let hasBias = configuration.hasBias

        let primitive = configuration.makePrimitive(name: "convolution backward weights", hint: forwardPrimitive) { algorithm in
            var descriptor = dnnl_convolution_desc_t()
            let status = withDimensionPointers(&strides, &dilates, &padding) { strides, dilates, padding in
                dnnl_dilated_convolution_backward_weights_desc_init(
                    &descriptor, algorithm, &sourceAny, &weightsAny, &bias, &destinationAny,
                    strides, dilates, padding, padding)
            }
            return (status, descriptor)
        }

        return WeightGradientPlan(
            primitive: primitive,
            source: LayoutAdapter(
                plain: configuration.plainSourceDescriptor,
                primitiveLayout: primitive.memoryDescriptor(dnnl_query_src_md), direction: .input),
            outputGradient: LayoutAdapter(
                plain: configuration.plainDestinationDescriptor,
                primitiveLayout: primitive.memoryDescriptor(dnnl_query_diff_dst_md), direction: .input),
            weightGradient: LayoutAdapter(
                plain: configuration.plainWeightsDescriptor,
                primitiveLayout: primitive.memoryDescriptor(dnnl_query_diff_weights_md), direction: .output),
            biasGradient: hasBias ? OneDNNMemory(bias, allocate: false) : nil)
    }
}

extension ConvolutionConfiguration {
    /// Creates the primitive that `describe` specifies for an algorithm: Winograd's where the
    /// configuration prefers it and oneDNN implements it for this CPU, the direct algorithm otherwise.
    func makePrimitive(
        name: String, hint: OneDNNPrimitive?,
        describe: (dnnl_alg_kind_t) -> (dnnl_status_t, dnnl_convolution_desc_t)
    ) -> OneDNNPrimitive {
        if prefersWinograd {
            let (status, descriptor) = describe(dnnl_convolution_winograd)
            if status == dnnl_success,
                let primitive = OneDNNPrimitive.ifImplemented(operation: descriptor, hint: hint, name: name)
            {
                return primitive
            }
        }
        let (status, descriptor) = describe(dnnl_convolution_direct)
        checkOneDNN(status, "convolution descriptor for \(name), \(self)")
        return OneDNNPrimitive(operation: descriptor, hint: hint, name: name)
    }

    var plainSourceDescriptor: dnnl_memory_desc_t { oneDNNMemoryDescriptor(inputShape, dnnl_nchw) }
    var plainDestinationDescriptor: dnnl_memory_desc_t { oneDNNMemoryDescriptor(outputShape, dnnl_nchw) }
    var plainWeightsDescriptor: dnnl_memory_desc_t { oneDNNMemoryDescriptor(oneDNNWeightDimensions, plainWeightTag) }
}
