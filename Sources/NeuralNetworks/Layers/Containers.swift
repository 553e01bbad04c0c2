import Tensors

/// Children applied in order, named "0", "1", ... as `torch.nn.Sequential`.
public final class Sequential: Module {
    public init(_ modules: [Module]) {
        super.init()
        for (index, module) in modules.enumerated() {
            register(module, as: String(index))
        }
    }

    /// Runs the children in order. A `BatchNorm2d` followed by a `ReLU` runs as one step, which
    /// gives the same values (see `BatchNorm2d.callAsFunction(_:then:)`).
    public override func forward(_ x: Tensor) -> Tensor {
        var output = x
        var index = 0
        while index < children.count {
            let module = children[index].module
            if let normalization = module as? BatchNorm2d, index + 1 < children.count, children[index + 1].module is ReLU {
                output = normalization(output, then: children[index + 1].module)
                index += 2
            } else {
                output = module(output)
                index += 1
            }
        }
        return output
    }

    public override var typeDescription: String { "Sequential" }
}

/// Returns its input unchanged.
public final class Identity: Module {
    public override func forward(_ x: Tensor) -> Tensor { x }
    public override var typeDescription: String { "Identity()" }
}

/// Collapses `[N, d1, d2, ...]` to `[N, d1·d2·...]`, as `torch.nn.Flatten()`.
public final class Flatten: Module {
    public override func forward(_ x: Tensor) -> Tensor { x.flattened(startDimension: 1) }
    public override var typeDescription: String { "Flatten(start_dim=1, end_dim=-1)" }
}

/// Zeroes elements with probability `probability` in training and rescales the rest by
/// `1 / (1 − probability)`; the identity in evaluation, as `torch.nn.Dropout`.
public final class Dropout: Module {
    public let probability: Float
    /// The generator for this layer's masks; saved with a run so a resumed run draws the same masks.
    public var generator: RandomGenerator

    public init(probability: Float = 0.5, generator: inout RandomGenerator) {
        precondition(probability >= 0 && probability <= 1, "Dropout probability \(probability) is outside [0, 1]")
        self.probability = probability
        self.generator = generator.split()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        dropout(x, probability: probability, training: isTraining, generator: &generator)
    }

    public override var typeDescription: String { "Dropout(p=\(probability), inplace=False)" }
}
