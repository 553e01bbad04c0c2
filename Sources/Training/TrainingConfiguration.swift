import Foundation
import NeuralNetworks
import Probes
import Tensors

/// The version written into `config.json` and checkpoints.
public let gradScopeVersion = "0.1.0"

/// The optimizers `--optimizer` accepts.
public enum OptimizerKind: String, CaseIterable, Codable, Sendable {
    case adam
    case adamw
    case sgd
}

/// Everything that determines a training run; saved as `config.json` so the run can be repeated
/// or resumed. The defaults reproduce the original VGG19 analysis: 10 classes, Adam at 1e-4,
/// batch 32, shuffled, and probes on `features.0`, `features.10`, `features.28` and `classifier.0`.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    public var model = ModelSpecification()
    /// A checkpoint (`.pth` or `.safetensors`) to start from; nil keeps the fresh initialisation.
    public var weights: String?
    /// The data set directory; nil uses the built-in synthetic images.
    public var data: String?
    /// Side of the square input in pixels; nil keeps the data's own size.
    public var imageSize: Int?
    /// Whether inputs are normalised with CIFAR-10's per-channel mean and deviation.
    public var normalize = false
    public var epochs = 10
    public var batchSize = 32
    public var optimizer = OptimizerKind.adam
    public var learningRate = 1e-4
    public var momentum = 0.0
    public var weightDecay = 0.0
    public var seed: UInt64 = 0
    public var shuffle = true
    public var limitTrain: Int?
    public var limitTest: Int?
    /// `--probe` requests as given; empty means the default probes of the model.
    public var probes: [String] = []
    /// Whether a non-finite loss or gradient is recorded and training continues.
    public var continueOnNonfinite = false
    /// Steps between mid-epoch checkpoints; nil writes one at the end of each epoch only.
    public var checkpointEvery: Int?
    public var thresholds = DiagnosisThresholds()
    /// The convolution algorithm. Nil, as in runs from before the option, means automatic.
    public var convolutionAlgorithm: ConvolutionAlgorithm?
    /// Training images in the built-in synthetic set (when `data` is nil). With 1,000 images the
    /// default ten-epoch VGG19 run takes a few minutes on two cores.
    public var syntheticTrainCount = 1_000
    /// Test images in the built-in synthetic set.
    public var syntheticTestCount = 250

    public init() {}

    /// The probe requests in effect: the given ones, or the original analysis's four for VGG
    /// models and every convolution and linear layer for the others.
    public var effectiveProbes: [String] {
        if !probes.isEmpty {
            return probes
        }
        if model.name.lowercased().hasPrefix("vgg") {
            return [ProbeSelection.vggBlocksRequest]
        }
        return ["all"]
    }
}

/// An option value that cannot work, found before anything runs.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) {
        self.message = message
    }
}

extension TrainingConfiguration {
    /// Checks the values that the command line cannot check one by one.
    /// - Throws: `ConfigurationError` naming the option and the value.
    public func validate() throws {
        guard ModelCatalog.names.contains(model.name) else {
            throw ConfigurationError(ModelCatalog.unknownModelMessage(model.name))
        }
        guard epochs >= 1 else {
            throw ConfigurationError("--epochs must be at least 1, got \(epochs)")
        }
        guard batchSize >= 1 else {
            throw ConfigurationError("--batch-size must be at least 1, got \(batchSize)")
        }
        guard learningRate > 0, learningRate.isFinite else {
            throw ConfigurationError("--lr must be a positive number, got \(learningRate)")
        }
        if momentum != 0 && optimizer != .sgd {
            throw ConfigurationError("--momentum applies to --optimizer sgd only; \(optimizer.rawValue) has its own moment estimates (betas 0.9, 0.999)")
        }
        guard momentum >= 0, momentum < 1 else {
            throw ConfigurationError("--momentum must be in [0, 1), got \(momentum)")
        }
        guard weightDecay >= 0 else {
            throw ConfigurationError("--weight-decay must be 0 or more, got \(weightDecay)")
        }
        if let imageSize, model.name.lowercased().hasPrefix("vgg"), imageSize < 32 {
            throw ConfigurationError("--image-size must be at least 32 for \(model.name), whose five max-pools halve the image five times; got \(imageSize)")
        }
        if let limitTrain, limitTrain < 1 {
            throw ConfigurationError("--limit-train must be at least 1, got \(limitTrain)")
        }
        if let limitTest, limitTest < 0 {
            throw ConfigurationError("--limit-test must be 0 or more, got \(limitTest)")
        }
        if let checkpointEvery, checkpointEvery < 1 {
            throw ConfigurationError("--checkpoint-every must be at least 1, got \(checkpointEvery)")
        }
    }
}
