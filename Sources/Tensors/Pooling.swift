import CDNNL

/// Max pooling over `[N, C, H, W]`; padding is implicit negative infinity, as in PyTorch.
public func maxPool2d(_ x: Tensor, kernelSize: Size2, stride: Size2, padding: Size2 = Size2(0)) -> Tensor {
    pool2d(x, kind: .maximum, kernelSize: kernelSize, stride: stride, padding: padding)
}

/// Average pooling over `[N, C, H, W]`; padded zeros count in the divisor (PyTorch's default
/// `count_include_pad=True`).
public func avgPool2d(_ x: Tensor, kernelSize: Size2, stride: Size2, padding: Size2 = Size2(0)) -> Tensor {
    pool2d(x, kind: .averageIncludingPadding, kernelSize: kernelSize, stride: stride, padding: padding)
}

private func pool2d(_ x: Tensor, kind: PoolingConfiguration.Kind, kernelSize: Size2, stride: Size2, padding: Size2) -> Tensor {
    let configuration = PoolingConfiguration(
        kind: kind, inputShape: x.shape, kernel: kernelSize, stride: stride, padding: padding)
    let output = Tensor.uninitialized(configuration.outputShape)
    let recordsGraph = GradientMode.isEnabled && x.requiresGradient

    let workspace = OneDNN.shared.withExclusiveAccess {
        PoolingPlan.cached(configuration).forward(x: x, output: output, keepingWorkspace: recordsGraph)
    }

    return Tensor.recordOperation(output, inputs: [x]) { gradient in
        let inputGradient = OneDNN.shared.withExclusiveAccess {
            PoolingPlan.cached(configuration).backward(outputGradient: gradient, workspace: workspace)
        }
        return [inputGradient]
    }
}

/// Everything that selects a pooling primitive.
struct PoolingConfiguration: Hashable {
    enum Kind: Hashable {
        case maximum
        case averageIncludingPadding
    }

    var kind: Kind
    var inputShape: [Int]
    var kernel: Size2
    var stride: Size2
    var padding: Size2
    var outputSize: Size2

    init(kind: Kind, inputShape: [Int], kernel: Size2, stride: Size2, padding: Size2) {
        let name = kind == .maximum ? "maxPool2d" : "avgPool2d"
        precondition(inputShape.count == 4, "\(name): x must be [N, C, H, W], got shape \(inputShape)")
        precondition(kernel.height >= 1 && kernel.width >= 1, "\(name): kernelSize must be positive, got \(kernel)")
        precondition(stride.height >= 1 && stride.width >= 1, "\(name): stride must be positive, got \(stride)")
        // PyTorch's limit: a window must always overlap the input.
        precondition(
            padding.height >= 0 && padding.width >= 0 && 2 * padding.height <= kernel.height
                && 2 * padding.width <= kernel.width,
            "\(name): padding must be between 0 and half the kernel size \(kernel), got \(padding)")
        let paddedHeight = inputShape[2] + 2 * padding.height
        let paddedWidth = inputShape[3] + 2 * padding.width
        precondition(
            paddedHeight >= kernel.height && paddedWidth >= kernel.width,
            "\(name): kernel \(kernel) is larger than the padded input (\(paddedHeight), \(paddedWidth))")

        self.kind = kind
        self.inputShape = inputShape
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        outputSize = Size2(
            (paddedHeight - kernel.height) / stride.height + 1, (paddedWidth - kernel.width) / stride.width + 1)
    }

    var outputShape: [Int] { [inputShape[0], inputShape[1], outputSize.height, outputSize.width] }

    var algorithm: dnnl_alg_kind_t { kind == .maximum ? dnnl_pooling_max : dnnl_pooling_avg_include_padding }
}

/// The oneDNN pooling primitives for one configuration. The training forward primitive and the
/// backward primitive are created on first use.
///
/// The primitives run on plain NCHW tensors, unless oneDNN 2.6 has only its reference
/// `simple_nchw` implementation for the plain layout. It has, for example, for planes of
/// 128 x 128 and larger, such as VGG's first pooling of `[8, 64, 224, 224]`, which took 270 ms
/// of a 10 s step on one thread. Then they run on the blocked `nChw16c` layout, with the tensors
/// reordered in and out around each call.
final class PoolingPlan {
    private let configuration: PoolingConfiguration
    private var inferencePrimitive: OneDNNPrimitive?
    private var trainingPrimitive: OneDNNPrimitive?
    private var backwardPrimitive: OneDNNPrimitive?
    /// The layouts the primitives are created with: plain `nchw`, or `nChw16c`.
    private let sourceLayout: dnnl_memory_desc_t
    private let destinationLayout: dnnl_memory_desc_t
    /// The forward source and destination (or backward source and destination gradients).
    private let source: LayoutAdapter
    private let destination: LayoutAdapter
    private let sourceGradient: LayoutAdapter
    private let destinationGradient: LayoutAdapter

    /// Returns the plan for `configuration`, built on first use. Call it inside `OneDNN.withExclusiveAccess`.
    static func cached(_ configuration: PoolingConfiguration) -> PoolingPlan {
        OneDNN.shared.plan(for: configuration) { PoolingPlan(configuration) }
    }

    /// Whether the primitives run on the blocked `nChw16c` layout.
    var usesBlockedLayout: Bool {
        var sourceDescriptor = sourceLayout
        var plainDescriptor = oneDNNMemoryDescriptor(configuration.inputShape, dnnl_nchw)
        return dnnl_memory_desc_equal(&sourceDescriptor, &plainDescriptor) == 0
    }

    private init(_ configuration: PoolingConfiguration) {
        self.configuration = configuration
        let plainSource = oneDNNMemoryDescriptor(configuration.inputShape, dnnl_nchw)
        let plainDestination = oneDNNMemoryDescriptor(configuration.outputShape, dnnl_nchw)
        let plainPrimitive = PoolingPlan.makeForwardPrimitive(
            configuration, dnnl_forward_training, source: plainSource, destination: plainDestination)
        if plainPrimitive.implementationName.hasPrefix("simple_nchw") {
            sourceLayout = oneDNNMemoryDescriptor(configuration.inputShape, dnnl_nChw16c)
            destinationLayout = oneDNNMemoryDescriptor(configuration.outputShape, dnnl_nChw16c)
        } else {
            sourceLayout = plainSource
            destinationLayout = plainDestination
            trainingPrimitive = plainPrimitive
        }
        source = LayoutAdapter(plain: plainSource, primitiveLayout: sourceLayout, direction: .input)
        destination = LayoutAdapter(plain: plainDestination, primitiveLayout: destinationLayout, direction: .output)
        sourceGradient = LayoutAdapter(plain: plainSource, primitiveLayout: sourceLayout, direction: .output)
        destinationGradient = LayoutAdapter(plain: plainDestination, primitiveLayout: destinationLayout, direction: .input)
    }

    /// Pools `x` into `output`. With `keepingWorkspace` it runs the training primitive and returns
    /// the workspace that max pooling's backward pass reads (the position of each maximum).
    func forward(x: Tensor, output: Tensor, keepingWorkspace: Bool) -> OneDNNMemory? {
        let primitive = keepingWorkspace ? training() : inference()
        source.prepare(x)
        destination.prepare(output)
        var arguments = [
            (OneDNNArgument.source, source.primitiveMemory), (OneDNNArgument.destination, destination.primitiveMemory),
        ]

        var workspace: OneDNNMemory?
        if keepingWorkspace && configuration.kind == .maximum {
            let memory = OneDNNMemory(primitive.memoryDescriptor(dnnl_query_workspace_md), allocate: true)
            arguments.append((OneDNNArgument.workspace, memory))
            workspace = memory
        }

        withExtendedLifetime((x, output)) {
            OneDNN.shared.execute(primitive.primitive, arguments)
            destination.finish()
        }
        source.releaseScratch()
        destination.releaseScratch()
        return workspace
    }

    /// Computes the gradient with respect to the input, `[N, C, H, W]`.
    func backward(outputGradient: Tensor, workspace: OneDNNMemory?) -> Tensor {
        let primitive = backwardPrimitive ?? makeBackwardPrimitive()
        backwardPrimitive = primitive
        let inputGradient = Tensor.uninitialized(configuration.inputShape)

        sourceGradient.prepare(inputGradient)
        destinationGradient.prepare(outputGradient)
        var arguments = [
            (OneDNNArgument.diffSource, sourceGradient.primitiveMemory),
            (OneDNNArgument.diffDestination, destinationGradient.primitiveMemory),
        ]
        if configuration.kind == .maximum {
            guard let workspace else {
                preconditionFailure("maxPool2d: backward needs the workspace of a training forward pass")
            }
            arguments.append((OneDNNArgument.workspace, workspace))
        }

        withExtendedLifetime((outputGradient, inputGradient)) {
            OneDNN.shared.execute(primitive.primitive, arguments)
            sourceGradient.finish()
        }
        sourceGradient.releaseScratch()
        destinationGradient.releaseScratch()
        return inputGradient
    }

    private func inference() -> OneDNNPrimitive {
        let primitive = inferencePrimitive ?? makeForwardPrimitive(dnnl_forward_inference)
        inferencePrimitive = primitive
        return primitive
    }

    private func training() -> OneDNNPrimitive {
        let primitive = trainingPrimitive ?? makeForwardPrimitive(dnnl_forward_training)
        trainingPrimitive = primitive
        return primitive
    }

    private func makeForwardPrimitive(_ propagation: dnnl_prop_kind_t) -> OneDNNPrimitive {
        PoolingPlan.makeForwardPrimitive(configuration, propagation, source: sourceLayout, destination: destinationLayout)
    }

    private static func makeForwardPrimitive(
        _ configuration: PoolingConfiguration, _ propagation: dnnl_prop_kind_t, source: dnnl_memory_desc_t,
        destination: dnnl_memory_desc_t
    ) -> OneDNNPrimitive {
        var sourceDescriptor = source
        var destinationDescriptor = destination
        var descriptor = dnnl_pooling_v2_desc_t()
        let status = withPoolingDimensions(configuration) { strides, kernel, dilation, padding in
            dnnl_pooling_v2_forward_desc_init(
                &descriptor, propagation, configuration.algorithm, &sourceDescriptor, &destinationDescriptor, strides,
                kernel, dilation, padding, padding)
        }
        checkOneDNN(status, "dnnl_pooling_v2_forward_desc_init for \(configuration)")
        return OneDNNPrimitive(operation: descriptor, name: "pooling forward")
    }

    private func makeBackwardPrimitive() -> OneDNNPrimitive {
        var sourceDescriptor = sourceLayout
        var destinationDescriptor = destinationLayout
        var descriptor = dnnl_pooling_v2_desc_t()
        let status = PoolingPlan.withPoolingDimensions(configuration) { strides, kernel, dilation, padding in
            dnnl_pooling_v2_backward_desc_init(
                &descriptor, configuration.algorithm, &sourceDescriptor, &destinationDescriptor, strides, kernel,
                dilation, padding, padding)
        }
        checkOneDNN(status, "dnnl_pooling_v2_backward_desc_init for \(configuration)")
        return OneDNNPrimitive(operation: descriptor, hint: training(), name: "pooling backward")
    }

    private static func withPoolingDimensions<Result>(
        _ configuration: PoolingConfiguration,
        _ body: (UnsafePointer<dnnl_dim_t>, UnsafePointer<dnnl_dim_t>, UnsafePointer<dnnl_dim_t>, UnsafePointer<dnnl_dim_t>) -> Result
    ) -> Result {
        var strides = oneDNNDimensions([configuration.stride.height, configuration.stride.width])
        var kernel = oneDNNDimensions([configuration.kernel.height, configuration.kernel.width])
        var padding = oneDNNDimensions([configuration.padding.height, configuration.padding.width])
        // oneDNN counts dilation from 0 (no gaps between window elements).
        var dilation = oneDNNDimensions([0, 0])
        return withDimensionPointers(&strides, &kernel, &padding) { strides, kernel, padding in
            withDimensionPointer(&dilation) { dilation in
                body(strides, kernel, dilation, padding)
            }
        }
    }
}

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, outputSize.height, outputSize.width]`
/// with PyTorch's window rule (start `floor(i * H / out)`, end `ceil((i + 1) * H / out)`), which
/// also covers outputs larger than the input (1x1 to 7x7 repeats the value).
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: Size2) -> Tensor {
    precondition(x.rank == 4, "adaptiveAvgPool2d: x must be [N, C, H, W], got shape \(x.shape)")
    precondition(
        outputSize.height >= 1 && outputSize.width >= 1,
        "adaptiveAvgPool2d: outputSize must be positive, got \(outputSize)")
    let inputHeight = x.shape[2]
    let inputWidth = x.shape[3]
    precondition(inputHeight >= 1 && inputWidth >= 1, "adaptiveAvgPool2d: x has an empty plane, shape \(x.shape)")

    let rows = AdaptiveWindows(inputSize: inputHeight, outputSize: outputSize.height)
    let columns = AdaptiveWindows(inputSize: inputWidth, outputSize: outputSize.width)
    let planes = x.shape[0] * x.shape[1]
    let inputPlaneSize = inputHeight * inputWidth
    let outputPlaneSize = outputSize.height * outputSize.width
    let output = Tensor.uninitialized([x.shape[0], x.shape[1], outputSize.height, outputSize.width])

    let source = x.storage.pointer
    let destination = output.storage.pointer
    withExtendedLifetime((x, output)) {
        parallelChunks(planes, minimumChunk: max(1, 16_384 / max(1, inputPlaneSize))) { range in
            for plane in range {
                let input = source + plane * inputPlaneSize
                let result = destination + plane * outputPlaneSize
                for row in 0..<outputSize.height {
                    for column in 0..<outputSize.width {
                        var total: Float = 0
                        for inputRow in rows.window(row) {
                            for inputColumn in columns.window(column) {
                                total += input[inputRow * inputWidth + inputColumn]
                            }
                        }
                        let area = rows.window(row).count * columns.window(column).count
                        result[row * outputSize.width + column] = total / Float(area)
                    }
                }
            }
        }
    }

    let inputShape = x.shape
    return Tensor.recordOperation(output, inputs: [x]) { gradient in
        let inputGradient = Tensor(zeros: inputShape)
        let incoming = gradient.storage.pointer
        let outgoing = inputGradient.storage.pointer
        withExtendedLifetime(gradient) {
            parallelChunks(planes, minimumChunk: max(1, 16_384 / max(1, inputPlaneSize))) { range in
                for plane in range {
                    let result = outgoing + plane * inputPlaneSize
                    let upstream = incoming + plane * outputPlaneSize
                    for row in 0..<outputSize.height {
                        for column in 0..<outputSize.width {
                            let area = rows.window(row).count * columns.window(column).count
                            let share = upstream[row * outputSize.width + column] / Float(area)
                            for inputRow in rows.window(row) {
                                for inputColumn in columns.window(column) {
                                    result[inputRow * inputWidth + inputColumn] += share
                                }
                            }
                        }
                    }
                }
            }
        }
        return [inputGradient]
    }
}

/// PyTorch's adaptive pooling windows along one axis: output `i` averages inputs
/// `floor(i * in / out) ..< ceil((i + 1) * in / out)`.
struct AdaptiveWindows: Sendable {
    let inputSize: Int
    let outputSize: Int

    func window(_ index: Int) -> Range<Int> {
        let start = (index * inputSize) / outputSize
        let end = ((index + 1) * inputSize + outputSize - 1) / outputSize
        return start..<end
    }
}
