import Tensors

/// The VGG family laid out exactly as torchvision's `VGG`: `features` (convolutions, optional
/// batch norm, ReLU and max-pools, indexed as torchvision's `make_layers` indexes them),
/// `avgpool` (adaptive to 7x7), `classifier` (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear).
///
/// Input `[N, 3, H, W]` with H and W at least 32; output logits `[N, numClasses]`.
public final class VGG: Module {
    /// One element of a feature configuration: a 3x3 convolution to this many channels, or a 2x2 max-pool.
    public enum Layer: Equatable, Sendable {
        case convolution(Int)
        case maxPool
    }

    /// The depths torchvision defines, with their configurations ("A", "B", "D", "E").
    public enum Depth: Int, CaseIterable, Sendable {
        case vgg11 = 11
        case vgg13 = 13
        case vgg16 = 16
        case vgg19 = 19

        public var configuration: [Layer] {
            let blocks: [[Int]]
            switch self {
            case .vgg11: blocks = [[64], [128], [256, 256], [512, 512], [512, 512]]
            case .vgg13: blocks = [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]]
            case .vgg16: blocks = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]
            case .vgg19: blocks = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]]
            }
            return blocks.flatMap { widths in widths.map(Layer.convolution) + [.maxPool] }
        }
    }

    /// Builds a VGG from a feature configuration.
    ///
    /// - Parameters:
    ///   - configuration: convolution widths and max-pool markers, as torchvision's `cfgs`.
    ///   - batchNorm: whether each convolution is followed by `BatchNorm2d` (the `_bn` variants).
    ///   - numClasses: the width of `classifier.6`.
    ///   - poolSize: the side of `avgpool`'s output (7 in torchvision).
    ///   - hiddenWidth: the width of `classifier.0` and `classifier.3` (4096 in torchvision).
    ///   - dropout: the probability of both classifier dropouts (0.5 in torchvision).
    ///   - generator: the source of every initial weight, in module order, with torchvision's
    ///     scheme: Kaiming normal (fan-out) for convolutions, N(0, 0.01) for linear layers, zero biases.
    public init(
        configuration: [Layer], batchNorm: Bool = false, numClasses: Int = 1000, poolSize: Int = 7,
        hiddenWidth: Int = 4096, dropout: Float = 0.5, generator: inout RandomGenerator
    ) {
        super.init()

        var layers: [Module] = []
        var channels = 3
        for layer in configuration {
            switch layer {
            case .maxPool:
                layers.append(MaxPool2d(kernelSize: Size2(2), stride: Size2(2)))
            case .convolution(let width):
                layers.append(Conv2d(inChannels: channels, outChannels: width, kernelSize: Size2(3), padding: Size2(1), generator: &generator, defaultInitialization: false))
                if batchNorm {
                    layers.append(BatchNorm2d(features: width))
                }
                layers.append(ReLU())
                channels = width
            }
        }
        register(Sequential(layers), as: "features")
        register(AdaptiveAvgPool2d(outputSize: Size2(poolSize)), as: "avgpool")

        let classifier = Sequential([
            Linear(inFeatures: channels * poolSize * poolSize, outFeatures: hiddenWidth, generator: &generator, defaultInitialization: false),
            ReLU(),
            Dropout(probability: dropout, generator: &generator),
            Linear(inFeatures: hiddenWidth, outFeatures: hiddenWidth, generator: &generator, defaultInitialization: false),
            ReLU(),
            Dropout(probability: dropout, generator: &generator),
            Linear(inFeatures: hiddenWidth, outFeatures: numClasses, generator: &generator, defaultInitialization: false),
        ])
        register(classifier, as: "classifier")

        initializeAsTorchvision(generator: &generator)
    }

    /// Builds one of torchvision's VGG depths.
    public convenience init(
        depth: Depth, batchNorm: Bool = false, numClasses: Int = 1000, dropout: Float = 0.5,
        generator: inout RandomGenerator
    ) {
        self.init(configuration: depth.configuration, batchNorm: batchNorm, numClasses: numClasses, dropout: dropout, generator: &generator)
    }

    private func initializeAsTorchvision(generator: inout RandomGenerator) {
        for (_, module) in namedModules() {
            if let convolution = module as? Conv2d {
                Initializer.kaimingNormalFanOut(convolution.weight, generator: &generator)
                convolution.bias?.fill(0)
            } else if let linear = module as? Linear {
                Initializer.normal(linear.weight, standardDeviation: 0.01, generator: &generator)
                linear.bias?.fill(0)
            }
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "VGG expects [N, 3, H, W], got \(x.shape)")
        let features = child(named: "features")!(x)
        let pooled = child(named: "avgpool")!(features)
        return child(named: "classifier")!(pooled.flattened(startDimension: 1))
    }

    public override var typeDescription: String { "VGG" }
}
