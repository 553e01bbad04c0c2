import Foundation
import Tensors

/// Everything needed to build a model by name, as `gradscope train` and `gradscope inspect` take it.
public struct ModelSpecification: Codable, Equatable, Sendable {
    /// A name from `ModelCatalog.names`, e.g. `vgg19`, `vgg16_bn`, `resnet50`, `mlp`.
    public var name: String
    public var numClasses: Int
    /// ResNets only: false removes every block's shortcut.
    public var skipConnections: Bool
    /// VGG only: the classifier's dropout probability.
    public var dropout: Float
    /// MLP only: the number of linear layers, their width and the activation between them.
    public var depth: Int
    public var width: Int
    public var activation: Activation
    /// MLP only: the input's shape per sample, `[C, H, W]`, which sets the first layer's width.
    public var inputShape: [Int]

    public init(
        name: String = "vgg19", numClasses: Int = 10, skipConnections: Bool = true, dropout: Float = 0.5,
        depth: Int = 20, width: Int = 256, activation: Activation = .sigmoid, inputShape: [Int] = [3, 32, 32]
    ) {
        self.name = name
        self.numClasses = numClasses
        self.skipConnections = skipConnections
        self.dropout = dropout
        self.depth = depth
        self.width = width
        self.activation = activation
        self.inputShape = inputShape
    }
}

extension ModelSpecification {
    /// The kinds of model, each with its own settings besides the name and class count.
    public enum Family: Sendable {
        /// `dropout` applies.
        case vgg
        /// `skipConnections` applies.
        case resnet
        /// `depth`, `width` and `activation` apply.
        case mlp
        /// A name that `ModelCatalog` does not know.
        case unknown
    }

    /// The family the model's name belongs to.
    public var family: Family {
        let lowercased = name.lowercased()
        if lowercased == "mlp" {
            return .mlp
        }
        if lowercased.hasPrefix("resnet") {
            return .resnet
        }
        return lowercased.hasPrefix("vgg") ? .vgg : .unknown
    }

    private enum CodingKeys: String, CodingKey {
        case name, numClasses, skipConnections, dropout, depth, width, activation, inputShape
    }

    /// Reads a specification; a missing field takes its default, as `init` gives it.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ModelSpecification()
        self.init(
            name: try container.decode(String.self, forKey: .name),
            numClasses: try container.decodeIfPresent(Int.self, forKey: .numClasses) ?? defaults.numClasses,
            skipConnections: try container.decodeIfPresent(Bool.self, forKey: .skipConnections) ?? defaults.skipConnections,
            dropout: try container.decodeIfPresent(Float.self, forKey: .dropout) ?? defaults.dropout,
            depth: try container.decodeIfPresent(Int.self, forKey: .depth) ?? defaults.depth,
            width: try container.decodeIfPresent(Int.self, forKey: .width) ?? defaults.width,
            activation: try container.decodeIfPresent(Activation.self, forKey: .activation) ?? defaults.activation,
            inputShape: try container.decodeIfPresent([Int].self, forKey: .inputShape) ?? defaults.inputShape)
    }

    /// Writes the fields that apply to the named model family, so that a ResNet run's
    /// `config.json` does not show an MLP's depth and activation.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(numClasses, forKey: .numClasses)
        if family == .resnet {
            try container.encode(skipConnections, forKey: .skipConnections)
        }
        if family == .vgg {
            try container.encode(dropout, forKey: .dropout)
        }
        if family == .mlp {
            try container.encode(depth, forKey: .depth)
            try container.encode(width, forKey: .width)
            try container.encode(activation, forKey: .activation)
        }
        try container.encode(inputShape, forKey: .inputShape)
    }
}

/// A model name or option that cannot be built.
public struct ModelSpecificationError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The models GradScope can build, by torchvision's names.
public enum ModelCatalog {
    /// Every model name, VGG first, then ResNet, then the MLP.
    public static let names: [String] =
        VGG.Depth.allCases.flatMap { ["vgg\($0.rawValue)", "vgg\($0.rawValue)_bn"] }
        + ResNet.Depth.allCases.map { "resnet\($0.rawValue)" }
        + ["mlp"]

    /// A one-line description of a model name, for `gradscope models`.
    public static func summary(of name: String) -> String {
        if name == "mlp" {
            return "multilayer perceptron (--depth, --width, --activation); the classical vanishing-gradient case"
        }
        if name.hasPrefix("resnet") {
            let depth = ResNet.Depth(rawValue: Int(name.dropFirst(6))!)!
            let block = depth.usesBottleneck ? "Bottleneck" : "BasicBlock"
            return "ResNet-\(depth.rawValue), \(block) blocks \(depth.blocksPerStage); --no-skip removes the shortcuts"
        }
        let batchNorm = name.hasSuffix("_bn")
        let depth = name.dropFirst(3).prefix { $0.isNumber }
        return "VGG-\(depth)\(batchNorm ? " with batch norm" : ""), torchvision layout (features, avgpool, classifier)"
    }

    /// Builds the model a specification describes, initialised from `generator`.
    /// - Throws: `ModelSpecificationError` for an unknown name (listing the known ones) or invalid sizes.
    public static func makeModel(_ specification: ModelSpecification, generator: inout RandomGenerator) throws -> Module {
        let name = specification.name.lowercased()
        guard specification.numClasses >= 1 else {
            throw ModelSpecificationError(message: "--num-classes must be at least 1, got \(specification.numClasses)")
        }
        guard specification.dropout >= 0 && specification.dropout < 1 else {
            throw ModelSpecificationError(message: "--dropout must be in [0, 1), got \(specification.dropout)")
        }

        if name == "mlp" {
            guard specification.depth >= 1, specification.width >= 1 else {
                throw ModelSpecificationError(message: "the MLP needs --depth and --width of at least 1, got \(specification.depth) and \(specification.width)")
            }
            let inputSize = specification.inputShape.reduce(1, *)
            return MLP(inputSize: inputSize, depth: specification.depth, width: specification.width,
                       activation: specification.activation, numClasses: specification.numClasses, generator: &generator)
        }
        if name.hasPrefix("resnet"), let depth = Int(name.dropFirst(6)).flatMap(ResNet.Depth.init(rawValue:)) {
            return ResNet(depth: depth, numClasses: specification.numClasses, skipConnections: specification.skipConnections, generator: &generator)
        }
        if name.hasPrefix("vgg") {
            let batchNorm = name.hasSuffix("_bn")
            let digits = name.dropFirst(3).prefix { $0.isNumber }
            if let depth = Int(digits).flatMap(VGG.Depth.init(rawValue:)), name == "vgg\(digits)\(batchNorm ? "_bn" : "")" {
                return VGG(depth: depth, batchNorm: batchNorm, numClasses: specification.numClasses,
                           dropout: specification.dropout, generator: &generator)
            }
        }
        throw ModelSpecificationError(message: unknownModelMessage(specification.name))
    }

    /// The error message for a model name not in `names`, listing them.
    public static func unknownModelMessage(_ name: String) -> String {
        "unknown model '\(name)'; choose one of: \(names.joined(separator: ", "))"
    }
}
