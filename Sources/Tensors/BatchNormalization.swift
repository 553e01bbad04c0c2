/// Batch normalisation of `[N, C, H, W]` per channel. In training it normalises with the batch
/// mean and biased variance and updates `runningMean`/`runningVariance` in place with
/// `momentum` using the unbiased variance, as PyTorch; in evaluation it uses the running values.
///
/// With `appliesReLU` the result is `relu` of the normalised values, computed in the same pass
/// over the activation, forward and backward. The normalised values themselves are never stored,
/// so no gradient hook can see them.
public func batchNorm2d(
    _ x: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVariance: Tensor,
    training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5, appliesReLU: Bool = false
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

    let kernels = BatchNormalizationKernels(shape: x.shape, epsilon: epsilon)
    let output = Tensor.uninitialized(x.shape)
    // Training writes the batch statistics into these. Evaluation reads a copy of the running
    // values, so later updates of the buffers cannot change a recorded backward pass.
    let mean = training ? Tensor.uninitialized([channels]) : runningMean.copy()
    let variance = training ? Tensor.uninitialized([channels]) : runningVariance.copy()

    withExtendedLifetime((x, weight, bias, output, mean, variance)) {
        kernels.forward(
            x: x.storage.pointer, output: output.storage.pointer, scale: weight?.storage.pointer,
            shift: bias?.storage.pointer, mean: mean.storage.pointer, variance: variance.storage.pointer,
            computesStatistics: training, appliesReLU: appliesReLU)
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
        let inputGradient = Tensor.uninitialized(x.shape)
        let weightGradient = weight?.requiresGradient == true ? Tensor.uninitialized([channels]) : nil
        let biasGradient = bias?.requiresGradient == true ? Tensor.uninitialized([channels]) : nil
        withExtendedLifetime((gradient, x, weight, bias, mean, variance)) {
            kernels.backward(
                outputGradient: gradient.storage.pointer, x: x.storage.pointer, scale: weight?.storage.pointer,
                shift: bias?.storage.pointer, mean: mean.storage.pointer, variance: variance.storage.pointer,
                inputGradient: inputGradient.storage.pointer, scaleGradient: weightGradient?.storage.pointer,
                shiftGradient: biasGradient?.storage.pointer, usesBatchStatistics: training, appliesReLU: appliesReLU)
        }

        var result: [Tensor?] = [inputGradient]
        if weight != nil {
            result.append(weightGradient)
        }
        if bias != nil {
            result.append(biasGradient)
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
