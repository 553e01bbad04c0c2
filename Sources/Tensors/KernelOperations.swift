// Signatures of the operations that run on oneDNN. Their implementations replace these stubs.

/// A pair of sizes along height and width.
public struct Size2: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    /// The same size along both axes.
    public init(_ both: Int) {
        self.init(both, both)
    }

    public var description: String { height == width ? "\(height)" : "(\(height), \(width))" }
}

/// 2-D convolution (cross-correlation, as PyTorch) of `x` `[N, C_in, H, W]` with `weight`
/// `[C_out, C_in / groups, kH, kW]` and optional `bias` `[C_out]`, giving `[N, C_out, H_out, W_out]`
/// with `H_out = (H + 2 * padding - dilation * (kH - 1) - 1) / stride + 1`.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Size2 = Size2(1), padding: Size2 = Size2(0),
    dilation: Size2 = Size2(1), groups: Int = 1
) -> Tensor {
    fatalError("conv2d is not implemented yet")
}

/// `x` `[N, in] · weightᵀ` with `weight` `[out, in]`, plus `bias` `[out]`, giving `[N, out]`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    fatalError("linear is not implemented yet")
}

/// The matrix product of `a` `[M, K]` and `b` `[K, N]`, giving `[M, N]`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    fatalError("matmul is not implemented yet")
}

/// Max pooling over `[N, C, H, W]`; padding is implicit negative infinity, as in PyTorch.
public func maxPool2d(_ x: Tensor, kernelSize: Size2, stride: Size2, padding: Size2 = Size2(0)) -> Tensor {
    fatalError("maxPool2d is not implemented yet")
}

/// Average pooling over `[N, C, H, W]`; padded zeros count in the divisor (PyTorch's default
/// `count_include_pad=True`).
public func avgPool2d(_ x: Tensor, kernelSize: Size2, stride: Size2, padding: Size2 = Size2(0)) -> Tensor {
    fatalError("avgPool2d is not implemented yet")
}

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, outputSize.height, outputSize.width]`
/// with PyTorch's window rule (start `floor(i * H / out)`, end `ceil((i + 1) * H / out)`), which
/// also covers outputs larger than the input (1x1 to 7x7 repeats the value).
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: Size2) -> Tensor {
    fatalError("adaptiveAvgPool2d is not implemented yet")
}

/// Batch normalisation of `[N, C, H, W]` per channel. In training it normalises with the batch
/// mean and biased variance and updates `runningMean`/`runningVariance` in place with
/// `momentum` using the unbiased variance, as PyTorch; in evaluation it uses the running values.
public func batchNorm2d(
    _ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVariance: Tensor,
    training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5
) -> Tensor {
    fatalError("batchNorm2d is not implemented yet")
}
