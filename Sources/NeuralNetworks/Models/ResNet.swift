import Tensors

/// The two-convolution block of ResNet-18/34, named as torchvision's `BasicBlock`
/// (`conv1`, `bn1`, `relu`, `conv2`, `bn2`, optional `downsample`).
public final class BasicBlock: Module {
    static let expansion = 1
    let skip: Bool

    init(inChannels: Int, width: Int, stride: Int, downsample: Module?, skip: Bool, generator: inout RandomGenerator) {
        self.skip = skip
        super.init()
        register(Conv2d(inChannels: inChannels, outChannels: width, kernelSize: Size2(3), stride: Size2(stride), padding: Size2(1), bias: false, generator: &generator, defaultInitialization: false), as: "conv1")
        register(BatchNorm2d(features: width), as: "bn1")
        register(ReLU(), as: "relu")
        register(Conv2d(inChannels: width, outChannels: width, kernelSize: Size2(3), padding: Size2(1), bias: false, generator: &generator, defaultInitialization: false), as: "conv2")
        register(BatchNorm2d(features: width), as: "bn2")
        if let downsample {
            register(downsample, as: "downsample")
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let identity = child(named: "downsample").map { $0(x) } ?? x

        let relu = child(named: "relu") as! ReLU

        var out = child(named: "conv1")!(x)
        out = normalization("bn1")(out, then: relu)

        out = child(named: "conv2")!(out)
        out = child(named: "bn2")!(out)

        return skip ? relu(sum: out, identity) : relu(out)
    }

    public override var typeDescription: String { "BasicBlock" }
}

/// The 1x1-3x3-1x1 block of ResNet-50/101/152 with the stride on the 3x3 convolution, named as
/// torchvision's `Bottleneck` (`conv1`..`conv3`, `bn1`..`bn3`, `relu`, optional `downsample`).
public final class Bottleneck: Module {
    static let expansion = 4
    let skip: Bool

    init(inChannels: Int, width: Int, stride: Int, downsample: Module?, skip: Bool, generator: inout RandomGenerator) {
        self.skip = skip
        super.init()
        let outChannels = width * Bottleneck.expansion
        register(Conv2d(inChannels: inChannels, outChannels: width, kernelSize: Size2(1), bias: false, generator: &generator, defaultInitialization: false), as: "conv1")
        register(BatchNorm2d(features: width), as: "bn1")
        register(Conv2d(inChannels: width, outChannels: width, kernelSize: Size2(3), stride: Size2(stride), padding: Size2(1), bias: false, generator: &generator, defaultInitialization: false), as: "conv2")
        register(BatchNorm2d(features: width), as: "bn2")
        register(Conv2d(inChannels: width, outChannels: outChannels, kernelSize: Size2(1), bias: false, generator: &generator, defaultInitialization: false), as: "conv3")
        register(BatchNorm2d(features: outChannels), as: "bn3")
        register(ReLU(), as: "relu")
        if let downsample {
            register(downsample, as: "downsample")
        }
    }

    public override func forward(_ x: Tensor) -> Tensor {
        let identity = child(named: "downsample").map { $0(x) } ?? x
        let relu = child(named: "relu") as! ReLU

        var out = child(named: "conv1")!(x)
        out = normalization("bn1")(out, then: relu)

        out = child(named: "conv2")!(out)
        out = normalization("bn2")(out, then: relu)

        out = child(named: "conv3")!(out)
        out = child(named: "bn3")!(out)

        return skip ? relu(sum: out, identity) : relu(out)
    }

    public override var typeDescription: String { "Bottleneck" }
}

/// The ResNet family laid out as torchvision's `ResNet`: `conv1` (7x7, stride 2), `bn1`, `relu`,
/// `maxpool` (3x3, stride 2), `layer1`..`layer4`, `avgpool` (adaptive to 1x1) and `fc`.
///
/// Input `[N, 3, H, W]`; output logits `[N, numClasses]`.
public final class ResNet: Module {
    /// The depths torchvision defines, with their block kind and blocks per stage.
    public enum Depth: Int, CaseIterable, Sendable {
        case resnet18 = 18
        case resnet34 = 34
        case resnet50 = 50
        case resnet101 = 101
        case resnet152 = 152

        public var usesBottleneck: Bool { rawValue >= 50 }

        public var blocksPerStage: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet34, .resnet50: [3, 4, 6, 3]
            case .resnet101: [3, 4, 23, 3]
            case .resnet152: [3, 8, 36, 3]
            }
        }
    }

    /// Whether blocks add their shortcut; without it each block's output is its residual branch alone.
    public let skipConnections: Bool

    /// Builds a ResNet.
    ///
    /// - Parameters:
    ///   - bottleneck: Bottleneck blocks (ResNet-50 and deeper) instead of basic blocks.
    ///   - blocksPerStage: the number of blocks in `layer1`..`layer4`.
    ///   - widths: the base width of each stage (64, 128, 256, 512 in torchvision); the stem has `widths[0]` channels.
    ///   - skipConnections: false builds every block without its identity or `downsample` shortcut,
    ///     everything else unchanged (the "plain network" of He et al., 2016).
    ///   - generator: the source of every initial weight, with torchvision's scheme: Kaiming normal
    ///     (fan-out) for convolutions, ones and zeros for batch norm, PyTorch's default for `fc`.
    public init(
        bottleneck: Bool, blocksPerStage: [Int], widths: [Int] = [64, 128, 256, 512], numClasses: Int = 1000,
        skipConnections: Bool = true, generator: inout RandomGenerator
    ) {
        precondition(blocksPerStage.count == 4 && widths.count == 4, "ResNet needs four stages, got blocks \(blocksPerStage) and widths \(widths)")
        self.skipConnections = skipConnections
        super.init()

        register(Conv2d(inChannels: 3, outChannels: widths[0], kernelSize: Size2(7), stride: Size2(2), padding: Size2(3), bias: false, generator: &generator, defaultInitialization: false), as: "conv1")
        register(BatchNorm2d(features: widths[0]), as: "bn1")
        register(ReLU(), as: "relu")
        register(MaxPool2d(kernelSize: Size2(3), stride: Size2(2), padding: Size2(1)), as: "maxpool")

        let expansion = bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        var channels = widths[0]
        for stage in 0..<4 {
            var blocks: [Module] = []
            for index in 0..<blocksPerStage[stage] {
                let stride = index == 0 && stage > 0 ? 2 : 1
                let outChannels = widths[stage] * expansion
                var downsample: Module?
                if skipConnections && (stride != 1 || channels != outChannels) {
                    downsample = Sequential([
                        Conv2d(inChannels: channels, outChannels: outChannels, kernelSize: Size2(1), stride: Size2(stride), bias: false, generator: &generator, defaultInitialization: false),
                        BatchNorm2d(features: outChannels),
                    ])
                }
                if bottleneck {
                    blocks.append(Bottleneck(inChannels: channels, width: widths[stage], stride: stride, downsample: downsample, skip: skipConnections, generator: &generator))
                } else {
                    blocks.append(BasicBlock(inChannels: channels, width: widths[stage], stride: stride, downsample: downsample, skip: skipConnections, generator: &generator))
                }
                channels = outChannels
            }
            register(Sequential(blocks), as: "layer\(stage + 1)")
        }

        register(AdaptiveAvgPool2d(outputSize: Size2(1)), as: "avgpool")
        register(Linear(inFeatures: channels, outFeatures: numClasses, generator: &generator), as: "fc")

        for (_, module) in namedModules() {
            if let convolution = module as? Conv2d {
                Initializer.kaimingNormalFanOut(convolution.weight, generator: &generator)
            }
        }
    }

    /// Builds one of torchvision's ResNet depths.
    public convenience init(depth: Depth, numClasses: Int = 1000, skipConnections: Bool = true, generator: inout RandomGenerator) {
        self.init(bottleneck: depth.usesBottleneck, blocksPerStage: depth.blocksPerStage, numClasses: numClasses, skipConnections: skipConnections, generator: &generator)
    }

    public override func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == 3, "ResNet expects [N, 3, H, W], got \(x.shape)")
        var out = child(named: "conv1")!(x)
        out = normalization("bn1")(out, then: child(named: "relu")!)
        out = child(named: "maxpool")!(out)

        for stage in 1...4 {
            out = child(named: "layer\(stage)")!(out)
        }

        out = child(named: "avgpool")!(out)
        return child(named: "fc")!(out.flattened(startDimension: 1))
    }

    public override var typeDescription: String { "ResNet" }
}

extension Module {
    /// Returns the batch-normalisation child registered under `name`.
    func normalization(_ name: String) -> BatchNorm2d {
        child(named: name) as! BatchNorm2d
    }
}
