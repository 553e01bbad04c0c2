import Tensors

/// A fully connected layer: `[N, inFeatures]` to `[N, outFeatures]` as `x · weightᵀ + bias`,
/// with `weight` `[outFeatures, inFeatures]` and `bias` `[outFeatures]`, as `torch.nn.Linear`.
public final class Linear: Module {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?

    /// Creates the layer with PyTorch's default initialisation, U(-1/√in, 1/√in) for weight and bias.
    /// - Parameter defaultInitialization: false leaves the weights at zero for a model that initialises them itself.
    public init(
        inFeatures: Int, outFeatures: Int, bias: Bool = true, generator: inout RandomGenerator,
        defaultInitialization: Bool = true
    ) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear needs positive sizes, got \(inFeatures) -> \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Tensor(zeros: [outFeatures, inFeatures])
        self.bias = bias ? Tensor(zeros: [outFeatures]) : nil
        super.init()
        registerWeightAndBias(weight, bias: self.bias, defaultInitialization: defaultInitialization, generator: &generator)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        linear(x, weight: weight, bias: bias)
    }

    public override var typeDescription: String {
        "Linear(in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias != nil ? "True" : "False"))"
    }
}
