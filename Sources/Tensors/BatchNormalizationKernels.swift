/// Batch normalisation kernels on plain `[N, C, H, W]` tensors, one channel per task.
///
/// oneDNN 2.6 normalises plain NCHW data with its generic `ncsp_bnorm` implementation, which
/// reads the activation once per statistic and once more to normalise, in separate parallel
/// regions. These kernels finish each channel (statistics, then the normalised values, or both
/// backward sums, then the input gradient) while its `N * H * W` values are still in cache, in
/// one parallel region per call. Sums are accumulated in double precision.
struct BatchNormalizationKernels {
    let batch: Int
    let channels: Int
    /// `H * W`, the contiguous run of one channel within one image.
    let planeSize: Int
    let epsilon: Float

    init(shape: [Int], epsilon: Float) {
        batch = shape[0]
        channels = shape[1]
        planeSize = shape[2] * shape[3]
        self.epsilon = epsilon
    }

    /// The values per channel, `N * H * W`.
    var valuesPerChannel: Int { batch * planeSize }

    /// Normalises `x` into `output`. With `computesStatistics` the biased batch mean and
    /// variance are written to `mean` and `variance`, otherwise they are read from there.
    func forward(
        x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
        computesStatistics: Bool
    ) {
        forEachChannel { channel in
            if computesStatistics {
                let channelMean = sum(x, channel: channel) / Double(valuesPerChannel)
                let squaredDeviations = sumOfSquaredDeviations(x, channel: channel, mean: Float(channelMean))
                mean[channel] = Float(channelMean)
                variance[channel] = Float(squaredDeviations / Double(valuesPerChannel))
            }

            let inverseDeviation = 1 / (variance[channel] + epsilon).squareRoot()
            let gamma = scale?[channel] ?? 1
            let beta = shift?[channel] ?? 0
            // y = x * factor + offset with factor = gamma / sigma and offset = beta - mean * factor.
            let factor = gamma * inverseDeviation
            let offset = beta - mean[channel] * factor
            for image in 0..<batch {
                let start = (image * channels + channel) * planeSize
                affine(x + start, output + start, count: planeSize, factor: factor, offset: offset)
            }
        }
    }

    /// Computes the input gradient and, where `scaleGradient` / `shiftGradient` are given, the
    /// gradients of the scale and shift. `usesBatchStatistics` selects the training formula, in
    /// which the mean and variance depend on `x`; otherwise they are constants.
    func backward(
        outputGradient: UnsafePointer<Float>, x: UnsafePointer<Float>, scale: UnsafePointer<Float>?,
        mean: UnsafePointer<Float>, variance: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
        scaleGradient: UnsafeMutablePointer<Float>?, shiftGradient: UnsafeMutablePointer<Float>?,
        usesBatchStatistics: Bool
    ) {
        forEachChannel { channel in
            let channelMean = mean[channel]
            let inverseDeviation = 1 / (variance[channel] + epsilon).squareRoot()
            let gamma = scale?[channel] ?? 1

            // sum(dy) and sum(dy * (x - mean)); the latter times 1 / sigma is sum(dy * x_hat).
            var gradientSum = 0.0
            var weightedSum = 0.0
            for image in 0..<batch {
                let start = (image * channels + channel) * planeSize
                let sums = gradientSums(outputGradient + start, x + start, count: planeSize, mean: channelMean)
                gradientSum += sums.gradient
                weightedSum += sums.weighted
            }
            let normalizedSum = Float(weightedSum) * inverseDeviation
            scaleGradient?[channel] = normalizedSum
            shiftGradient?[channel] = Float(gradientSum)

            // Training: dx = gamma / sigma * (dy - sum(dy) / M - x_hat * sum(dy * x_hat) / M).
            // Evaluation: dx = gamma / sigma * dy.
            let factor = gamma * inverseDeviation
            var gradientOffset: Float = 0
            var deviationFactor: Float = 0
            if usesBatchStatistics {
                let count = Float(valuesPerChannel)
                gradientOffset = Float(gradientSum) / count
                deviationFactor = normalizedSum * inverseDeviation / count
            }
            for image in 0..<batch {
                let start = (image * channels + channel) * planeSize
                inputGradientPlane(
                    outputGradient + start, x + start, inputGradient + start, count: planeSize, mean: channelMean,
                    factor: factor, gradientOffset: gradientOffset, deviationFactor: deviationFactor)
            }
        }
    }

    /// Runs `body` for every channel, across the kernel threads unless the tensor is small.
    private func forEachChannel(_ body: (Int) -> Void) {
        if batch * channels * planeSize < 65_536 {
            for channel in 0..<channels {
                body(channel)
            }
        } else {
            runConcurrently(iterations: channels, body)
        }
    }

    private func sum(_ x: UnsafePointer<Float>, channel: Int) -> Double {
        var total = 0.0
        for image in 0..<batch {
            let plane = x + (image * channels + channel) * planeSize
            var lanes = SIMD8<Float>()
            var index = 0
            while index + 8 <= planeSize {
                lanes += SIMD8<Float>(loadingFrom: plane + index)
                index += 8
            }
            var planeTotal = Double(lanes.sum())
            while index < planeSize {
                planeTotal += Double(plane[index])
                index += 1
            }
            total += planeTotal
        }
        return total
    }

    private func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, channel: Int, mean: Float) -> Double {
        var total = 0.0
        let meanLanes = SIMD8<Float>(repeating: mean)
        for image in 0..<batch {
            let plane = x + (image * channels + channel) * planeSize
            var lanes = SIMD8<Float>()
            var index = 0
            while index + 8 <= planeSize {
                let deviation = SIMD8<Float>(loadingFrom: plane + index) - meanLanes
                lanes += deviation * deviation
                index += 8
            }
            var planeTotal = Double(lanes.sum())
            while index < planeSize {
                let deviation = plane[index] - mean
                planeTotal += Double(deviation * deviation)
                index += 1
            }
            total += planeTotal
        }
        return total
    }

    private func affine(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int, factor: Float,
        offset: Float
    ) {
        let factorLanes = SIMD8<Float>(repeating: factor)
        let offsetLanes = SIMD8<Float>(repeating: offset)
        var index = 0
        while index + 8 <= count {
            let result = SIMD8<Float>(loadingFrom: source + index) * factorLanes + offsetLanes
            result.store(to: destination + index)
            index += 8
        }
        while index < count {
            destination[index] = source[index] * factor + offset
            index += 1
        }
    }

    private func gradientSums(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float
    ) -> (gradient: Double, weighted: Double) {
        let meanLanes = SIMD8<Float>(repeating: mean)
        var gradientLanes = SIMD8<Float>()
        var weightedLanes = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            let dy = SIMD8<Float>(loadingFrom: gradient + index)
            gradientLanes += dy
            weightedLanes += dy * (SIMD8<Float>(loadingFrom: x + index) - meanLanes)
            index += 8
        }
        var gradientTotal = Double(gradientLanes.sum())
        var weightedTotal = Double(weightedLanes.sum())
        while index < count {
            gradientTotal += Double(gradient[index])
            weightedTotal += Double(gradient[index] * (x[index] - mean))
            index += 1
        }
        return (gradientTotal, weightedTotal)
    }

    /// dx = factor * (dy - gradientOffset - (x - mean) * deviationFactor).
    private func inputGradientPlane(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ result: UnsafeMutablePointer<Float>,
        count: Int, mean: Float, factor: Float, gradientOffset: Float, deviationFactor: Float
    ) {
        let meanLanes = SIMD8<Float>(repeating: mean)
        let factorLanes = SIMD8<Float>(repeating: factor)
        let offsetLanes = SIMD8<Float>(repeating: gradientOffset)
        let deviationLanes = SIMD8<Float>(repeating: deviationFactor)
        var index = 0
        while index + 8 <= count {
            let deviation = SIMD8<Float>(loadingFrom: x + index) - meanLanes
            let dy = SIMD8<Float>(loadingFrom: gradient + index)
            let value = factorLanes * (dy - offsetLanes - deviation * deviationLanes)
            value.store(to: result + index)
            index += 8
        }
        while index < count {
            result[index] = factor * (gradient[index] - gradientOffset - (x[index] - mean) * deviationFactor)
            index += 1
        }
    }
}

private extension SIMD8 where Scalar == Float {
    init(loadingFrom pointer: UnsafePointer<Float>) {
        self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
    }

    func store(to pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD8<Float>.self)
    }
}
