import Tensors

/// A 2-D convolution over `[N, inChannels, H, W]` giving `[N, outChannels, H_out, W_out]` with
/// `H_out = (H + 2·padding − dilation·(kernelSize − 1) − 1) / stride + 1`, as `torch.nn.Conv2d`.
/// `weight` is `[outChannels, inChannels / groups, kH, kW]`, `bias` `[outChannels]`.
public final class Conv2d: Module {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Size2
    public let stride: Size2
    public let padding: Size2
    public let dilation: Size2
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor?

    /// Creates the layer with PyTorch's default initialisation (uniform with bound 1/√fanIn).
    /// - Parameter defaultInitialization: false leaves the weights at zero for a model that initialises them itself.
    public init(
        inChannels: Int, outChannels: Int, kernelSize: Size2, stride: Size2 = Size2(1), padding: Size2 = Size2(0),
        dilation: Size2 = Size2(1), groups: Int = 1, bias: Bool = true, generator: inout RandomGenerator,
        defaultInitialization: Bool = true
    ) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: channels \(inChannels) -> \(outChannels) are not divisible by groups \(groups)")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        weight = Tensor(zeros: [outChannels, inChannels / groups, kernelSize.height, kernelSize.width])
        self.bias = bias ? Tensor(zeros: [outChannels]) : nil
        super.init()
        registerWeightAndBias(weight, bias: self.bias, defaultInitialization: defaultInitialization, generator: &generator)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// The output's spatial size for an input of `size`.
    public func outputSize(for size: Size2) -> Size2 {
        func along(_ input: Int, _ kernel: Int, _ stride: Int, _ padding: Int, _ dilation: Int) -> Int {
            (input + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
        }
        return Size2(
            along(size.height, kernelSize.height, stride.height, padding.height, dilation.height),
            along(size.width, kernelSize.width, stride.width, padding.width, dilation.width))
    }

    public override var typeDescription: String {
        var settings = ["\(inChannels)", "\(outChannels)", "kernel_size=\(pair(kernelSize))", "stride=\(pair(stride))"]
        if padding != Size2(0) {
            settings.append("padding=\(pair(padding))")
        }
        if dilation != Size2(1) {
            settings.append("dilation=\(pair(dilation))")
        }
        if groups != 1 {
            settings.append("groups=\(groups)")
        }
        if bias == nil {
            settings.append("bias=False")
        }
        return "Conv2d(\(settings.joined(separator: ", ")))"
    }
}

/// A size as PyTorch prints it, `(3, 3)`.
func pair(_ size: Size2) -> String {
    "(\(size.height), \(size.width))"
}
