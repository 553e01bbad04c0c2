import Foundation
import Tensors

/// Weight initialisation schemes, as in `torch.nn.init`, drawing from a caller's generator so that
/// a whole model comes from one seed.
public enum Initializer {
    /// Fan-in and fan-out of a weight `[out, in, kH, kW]` or `[out, in]`, as PyTorch computes them.
    public static func fans(of shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fans need a weight of rank 2 or more, got shape \(shape)")
        let receptiveField = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptiveField, shape[0] * receptiveField)
    }

    /// Kaiming (He) normal with fan-out and the ReLU gain: N(0, 2 / fanOut), as torchvision's
    /// VGG and ResNet use for convolutions.
    public static func kaimingNormalFanOut(_ tensor: Tensor, generator: inout RandomGenerator) {
        let fanOut = fans(of: tensor.shape).fanOut
        let standardDeviation = Float((2.0 / Double(fanOut)).squareRoot())
        tensor.fillRandomNormal(standardDeviation: standardDeviation, generator: &generator)
    }

    /// Normal samples with the given mean and standard deviation.
    public static func normal(_ tensor: Tensor, mean: Float = 0, standardDeviation: Float, generator: inout RandomGenerator) {
        tensor.fillRandomNormal(mean: mean, standardDeviation: standardDeviation, generator: &generator)
    }

    /// Uniform samples on `[-bound, bound)`.
    public static func uniform(_ tensor: Tensor, bound: Float, generator: inout RandomGenerator) {
        tensor.fillRandomUniform(in: -bound..<bound, generator: &generator)
    }

    /// PyTorch's default for `nn.Linear` and `nn.Conv2d`: weight from kaiming_uniform with
    /// a = √5, which is U(-1/√fanIn, 1/√fanIn), and bias from the same bound.
    public static func pytorchDefault(weight: Tensor, bias: Tensor?, generator: inout RandomGenerator) {
        let bound = Float(1 / Double(fans(of: weight.shape).fanIn).squareRoot())
        uniform(weight, bound: bound, generator: &generator)
        if let bias {
            uniform(bias, bound: bound, generator: &generator)
        }
    }
}

extension Module {
    /// Registers a layer's `weight` and optional `bias` and, unless a model initialises them
    /// itself, fills them with PyTorch's default for `nn.Linear` and `nn.Conv2d`.
    func registerWeightAndBias(_ weight: Tensor, bias: Tensor?, defaultInitialization: Bool, generator: inout RandomGenerator) {
        registerParameter(weight, as: "weight")
        if let bias {
            registerParameter(bias, as: "bias")
        }
        if defaultInitialization {
            Initializer.pytorchDefault(weight: weight, bias: bias, generator: &generator)
        }
    }
}
