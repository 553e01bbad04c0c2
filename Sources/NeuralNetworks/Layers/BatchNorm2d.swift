import Tensors

/// Batch normalisation per channel of `[N, C, H, W]`, as `torch.nn.BatchNorm2d` with affine
/// weights and tracked running statistics (momentum 0.1, eps 1e-5 by default).
public final class BatchNorm2d: Module {
    public let features: Int
    public let epsilon: Float
    public let momentum: Float
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVariance: Tensor
    /// Counts training batches seen, as PyTorch's `num_batches_tracked` (stored as float32 here).
    public let batchesTracked: Tensor

    /// Creates the layer with weight 1, bias 0, running mean 0 and running variance 1.
    public init(features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.features = features
        self.epsilon = epsilon
        self.momentum = momentum
        weight = Tensor(repeating: 1, shape: [features])
        bias = Tensor(zeros: [features])
        runningMean = Tensor(zeros: [features])
        runningVariance = Tensor(repeating: 1, shape: [features])
        batchesTracked = Tensor(zeros: [])
        super.init()
        registerParameter(weight, as: "weight")
        registerParameter(bias, as: "bias")
        registerBuffer(runningMean, as: "running_mean")
        registerBuffer(runningVariance, as: "running_var")
        registerBuffer(batchesTracked, as: "num_batches_tracked")
    }

    public override func forward(_ x: Tensor) -> Tensor {
        normalize(x, appliesReLU: false)
    }

    /// Returns `relu(self(x))`, `relu` being the model's ReLU module. When neither module has a
    /// forward observer, the ReLU runs inside the normalisation's pass over the activation.
    public func callAsFunction(_ x: Tensor, then relu: Module) -> Tensor {
        guard relu is ReLU, forwardObserver == nil, relu.forwardObserver == nil else {
            return relu(self(x))
        }
        return normalize(x, appliesReLU: true)
    }

    private func normalize(_ x: Tensor, appliesReLU: Bool) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == features, "BatchNorm2d(\(features)) expects [N, \(features), H, W], got \(x.shape)")
        if isTraining {
            batchesTracked.storage.pointer[0] += 1
        }
        return batchNorm2d(
            x, weight: weight, bias: bias, runningMean: runningMean, runningVariance: runningVariance,
            training: isTraining, momentum: momentum, epsilon: epsilon, appliesReLU: appliesReLU)
    }

    public override var typeDescription: String {
        "BatchNorm2d(\(features), eps=\(epsilon), momentum=\(momentum), affine=True, track_running_stats=True)"
    }
}
