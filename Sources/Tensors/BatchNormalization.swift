import CDNNL

/// Batch normalisation of `[N, C, H, W]` per channel. In training it normalises with the batch
/// mean and biased variance and updates `runningMean`/`runningVariance` in place with
/// `momentum` using the unbiased variance, as PyTorch; in evaluation it uses the running values.
public func batchNorm2d(
    _ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVariance: Tensor,
    training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5
) -> Tensor {
    precondition(x.rank == 4, "batchNorm2d: x must be [N, C, H, W], got shape \(x.shape)")
    let channels = x.shape[1]
    for (name, tensor) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVariance", runningVariance)] {
        if let tensor {
            precondition(tensor.shape == [channels], "batchNorm2d: \(name) must have shape [\(channels)], got \(tensor.shape)")
        }
    }
    precondition(epsilon > 0, "batchNorm2d: epsilon must be positive, got \(epsilon)")
    let valuesPerChannel = x.shape[0] * x.shape[2] * x.shape[3]
    if training {
        precondition(
            valuesPerChannel > 1,
            "batchNorm2d: training needs more than one value per channel, x has shape \(x.shape)")
    }

    let configuration = BatchNormalizationConfiguration(
        shape: x.shape, hasScale: weight != nil, hasShift: bias != nil, usesRunningStatistics: !training,
        epsilon: epsilon)
    let output = Tensor.uninitialized(x.shape)
    // Training writes the batch statistics into these. Evaluation reads a copy of the running
    // values, so later updates of the buffers cannot change a recorded backward pass.
    let mean = training ? Tensor.uninitialized([channels]) : runningMean.copy()
    let variance = training ? Tensor.uninitialized([channels]) : runningVariance.copy()

    OneDNN.shared.withExclusiveAccess {
        BatchNormalizationPlan.cached(configuration).forward(
            x: x, weight: weight, bias: bias, mean: mean, variance: variance, output: output)
    }

    if training {
        updateRunningStatistics(
            runningMean: runningMean, runningVariance: runningVariance, batchMean: mean, batchVariance: variance,
            momentum: momentum, valuesPerChannel: valuesPerChannel)
    }

    var inputs = [x]
    if let weight {
        inputs.append(weight)
    }
    if let bias {
        inputs.append(bias)
    }
    return Tensor.recordKernelOperation(output, inputs: inputs) { gradient in
        let gradients = OneDNN.shared.withExclusiveAccess {
            BatchNormalizationPlan.cached(configuration).backward(
                outputGradient: gradient, x: x, weight: weight, bias: bias, mean: mean, variance: variance)
        }
        var result: [Tensor?] = [gradients.input]
        if weight != nil {
            result.append(gradients.weight)
        }
        if bias != nil {
            result.append(gradients.bias)
        }
        return result
    }
}

/// `running = (1 - momentum) * running + momentum * batch`, with the batch variance made
/// unbiased by `n / (n - 1)` for `n` values per channel, as `torch.nn.BatchNorm2d` does.
private func updateRunningStatistics(
    runningMean: Tensor, runningVariance: Tensor, batchMean: Tensor, batchVariance: Tensor, momentum: Float,
    valuesPerChannel: Int
) {
    let correction = Float(valuesPerChannel) / Float(valuesPerChannel - 1)
    for channel in 0..<runningMean.count {
        let oldMean = runningMean.storage.pointer[channel]
        let oldVariance = runningVariance.storage.pointer[channel]
        let unbiasedVariance = batchVariance.storage.pointer[channel] * correction
        runningMean.storage.pointer[channel] = (1 - momentum) * oldMean + momentum * batchMean.storage.pointer[channel]
        runningVariance.storage.pointer[channel] = (1 - momentum) * oldVariance + momentum * unbiasedVariance
    }
}

/// Everything that selects a batch normalisation primitive.
struct BatchNormalizationConfiguration: Hashable {
    var shape: [Int]
    var hasScale: Bool
    var hasShift: Bool
    /// Evaluation mode: normalise with the given (running) statistics instead of the batch's.
    var usesRunningStatistics: Bool
    var epsilon: Float

    var flags: UInt32 {
        var flags: UInt32 = 0
        if hasScale {
            flags |= dnnl_use_scale.rawValue
        }
        if hasShift {
            flags |= dnnl_use_shift.rawValue
        }
        if usesRunningStatistics {
            flags |= dnnl_use_global_stats.rawValue
        }
        return flags
    }
}

/// The oneDNN batch normalisation primitives for one configuration, on plain NCHW tensors.
/// The backward primitive is created on first use.
final class BatchNormalizationPlan {
    private let configuration: BatchNormalizationConfiguration
    private let forwardPrimitive: OneDNNPrimitive
    private var backwardPrimitive: OneDNNPrimitive?

    private let source: OneDNNMemory
    private let destination: OneDNNMemory
    private let mean: OneDNNMemory
    private let variance: OneDNNMemory
    private let scale: OneDNNMemory
    private let shift: OneDNNMemory
    private let scaleGradient: OneDNNMemory
    private let shiftGradient: OneDNNMemory

    /// Returns the plan for `configuration`, built on first use. Call it inside `OneDNN.withExclusiveAccess`.
    static func cached(_ configuration: BatchNormalizationConfiguration) -> BatchNormalizationPlan {
        OneDNN.shared.plan(for: configuration) { BatchNormalizationPlan(configuration) }
    }

    private init(_ configuration: BatchNormalizationConfiguration) {
        self.configuration = configuration
        var data = oneDNNMemoryDescriptor(configuration.shape, dnnl_nchw)
        let perChannel = oneDNNMemoryDescriptor([configuration.shape[1]], dnnl_x)

        // The training kind also serves evaluation: with running statistics it only reads them.
        var descriptor = dnnl_batch_normalization_desc_t()
        let status = dnnl_batch_normalization_forward_desc_init(
            &descriptor, dnnl_forward_training, &data, configuration.epsilon, configuration.flags)
        checkOneDNN(status, "dnnl_batch_normalization_forward_desc_init for \(configuration)")
        forwardPrimitive = OneDNNPrimitive(operation: descriptor, name: "batch normalization forward")

        source = OneDNNMemory(data, allocate: false)
        destination = OneDNNMemory(data, allocate: false)
        mean = OneDNNMemory(perChannel, allocate: false)
        variance = OneDNNMemory(perChannel, allocate: false)
        scale = OneDNNMemory(perChannel, allocate: false)
        shift = OneDNNMemory(perChannel, allocate: false)
        scaleGradient = OneDNNMemory(perChannel, allocate: false)
        shiftGradient = OneDNNMemory(perChannel, allocate: false)
    }

    /// Normalises `x` into `output`. In training the batch statistics are written to `mean` and
    /// `variance` (biased); in evaluation they are read from there.
    func forward(x: Tensor, weight: Tensor?, bias: Tensor?, mean meanTensor: Tensor, variance varianceTensor: Tensor, output: Tensor) {
        source.bind(x.storage.pointer)
        destination.bind(output.storage.pointer)
        mean.bind(meanTensor.storage.pointer)
        variance.bind(varianceTensor.storage.pointer)
        var arguments = [
            (OneDNNArgument.source, source),
            (OneDNNArgument.destination, destination),
            (OneDNNArgument.mean, mean),
            (OneDNNArgument.variance, variance),
        ]
        if let weight {
            scale.bind(weight.storage.pointer)
            arguments.append((OneDNNArgument.scale, scale))
        }
        if let bias {
            shift.bind(bias.storage.pointer)
            arguments.append((OneDNNArgument.shift, shift))
        }

        withExtendedLifetime((x, weight, bias, meanTensor, varianceTensor, output)) {
            OneDNN.shared.execute(forwardPrimitive.primitive, arguments)
        }
    }

    /// Computes the gradients with respect to `x` `[N, C, H, W]`, and to weight and bias `[C]`
    /// where the configuration has them.
    func backward(
        outputGradient: Tensor, x: Tensor, weight: Tensor?, bias: Tensor?, mean meanTensor: Tensor,
        variance varianceTensor: Tensor
    ) -> (input: Tensor, weight: Tensor?, bias: Tensor?) {
        let primitive = backwardPrimitive ?? makeBackwardPrimitive()
        backwardPrimitive = primitive
        let channels = configuration.shape[1]
        let inputGradient = Tensor.uninitialized(configuration.shape)
        let weightGradient = configuration.hasScale ? Tensor.uninitialized([channels]) : nil
        let biasGradient = configuration.hasShift ? Tensor.uninitialized([channels]) : nil

        // Forward arguments are bound again: the plan's memory objects now point at these tensors.
        source.bind(x.storage.pointer)
        destination.bind(outputGradient.storage.pointer)
        mean.bind(meanTensor.storage.pointer)
        variance.bind(varianceTensor.storage.pointer)
        let inputGradientMemory = OneDNNMemory(source.descriptor, allocate: false)
        inputGradientMemory.bind(inputGradient.storage.pointer)
        var arguments = [
            (OneDNNArgument.source, source),
            (OneDNNArgument.diffDestination, destination),
            (OneDNNArgument.mean, mean),
            (OneDNNArgument.variance, variance),
            (OneDNNArgument.diffSource, inputGradientMemory),
        ]
        if let weight, let weightGradient {
            scale.bind(weight.storage.pointer)
            scaleGradient.bind(weightGradient.storage.pointer)
            arguments.append((OneDNNArgument.scale, scale))
            arguments.append((OneDNNArgument.diffScale, scaleGradient))
        }
        // oneDNN 2.6 counts the shift among the backward inputs although the result does not depend on it.
        if let bias, let biasGradient {
            shift.bind(bias.storage.pointer)
            shiftGradient.bind(biasGradient.storage.pointer)
            arguments.append((OneDNNArgument.shift, shift))
            arguments.append((OneDNNArgument.diffShift, shiftGradient))
        }

        withExtendedLifetime((outputGradient, x, weight, bias, meanTensor, varianceTensor)) {
            OneDNN.shared.execute(primitive.primitive, arguments)
        }
        return (inputGradient, weightGradient, biasGradient)
    }

    private func makeBackwardPrimitive() -> OneDNNPrimitive {
        var data = source.descriptor
        var dataGradient = source.descriptor
        var descriptor = dnnl_batch_normalization_desc_t()
        let propagation = configuration.hasScale || configuration.hasShift ? dnnl_backward : dnnl_backward_data
        let status = dnnl_batch_normalization_backward_desc_init(
            &descriptor, propagation, &dataGradient, &data, configuration.epsilon, configuration.flags)
        checkOneDNN(status, "dnnl_batch_normalization_backward_desc_init for \(configuration)")
        return OneDNNPrimitive(operation: descriptor, hint: forwardPrimitive, name: "batch normalization backward")
    }
}
