import Tensors

/// The window of a pooling layer: kernel size, stride (the kernel size by default) and padding.
public class WindowPooling2d: Module {
    public let kernelSize: Size2
    public let stride: Size2
    public let padding: Size2

    public init(kernelSize: Size2, stride: Size2? = nil, padding: Size2 = Size2(0)) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    /// The settings as PyTorch prints them, e.g. `kernel_size=2, stride=2, padding=0`.
    var settings: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)"
    }
}

/// Max pooling over `[N, C, H, W]`, as `torch.nn.MaxPool2d`.
public final class MaxPool2d: WindowPooling2d {
    public override func forward(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public override var typeDescription: String { "MaxPool2d(\(settings))" }
}

/// Average pooling over `[N, C, H, W]` counting padded zeros, as `torch.nn.AvgPool2d`.
public final class AvgPool2d: WindowPooling2d {
    public override func forward(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public override var typeDescription: String { "AvgPool2d(\(settings))" }
}

/// Average pooling of `[N, C, H, W]` to a fixed `[N, C, outputSize.height, outputSize.width]`,
/// whatever the input size, as `torch.nn.AdaptiveAvgPool2d`.
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: Size2

    public init(outputSize: Size2) {
        self.outputSize = outputSize
    }

    public override func forward(_ x: Tensor) -> Tensor {
        adaptiveAvgPool2d(x, outputSize: outputSize)
    }

    public override var typeDescription: String {
        "AdaptiveAvgPool2d(output_size=\(pair(outputSize)))"
    }
}
