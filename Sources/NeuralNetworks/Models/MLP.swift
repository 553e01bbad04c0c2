import Tensors

/// A plain multilayer perceptron: `flatten`, then `layers` = Linear, activation, ..., Linear,
/// with `depth` linear layers in all (the last one maps to the classes). The classical setting
/// for vanishing gradients: with sigmoid, each layer scales the gradient by at most 0.25 times its
/// weight's spectral norm.
///
/// Input `[N, ...]` with `inputSize` values per sample; output logits `[N, numClasses]`.
public final class MLP: Module {
    public let depth: Int
    public let width: Int
    public let activation: Activation

    /// Builds the network with PyTorch's default linear initialisation.
    public init(inputSize: Int, depth: Int, width: Int, activation: Activation, numClasses: Int, generator: inout RandomGenerator) {
        precondition(depth >= 1, "an MLP needs at least one linear layer, got depth \(depth)")
        self.depth = depth
        self.width = width
        self.activation = activation
        super.init()

        var modules: [Module] = []
        var features = inputSize
        for index in 0..<depth {
            let isLast = index == depth - 1
            let outFeatures = isLast ? numClasses : width
            modules.append(Linear(inFeatures: features, outFeatures: outFeatures, generator: &generator))
            if !isLast {
                modules.append(activation.makeModule())
            }
            features = outFeatures
        }
        register(Flatten(), as: "flatten")
        register(Sequential(modules), as: "layers")
    }

    public override var typeDescription: String { "MLP" }
}
