/// Batch normalisation kernels on plain `[N, C, H, W]` tensors.
///
/// oneDNN 2.6 normalises plain NCHW data with its generic `ncsp_bnorm` implementation, which
/// reads the activation once per statistic and once more to normalise, in separate parallel
/// regions. For planes of 32x32 and more these kernels take one channel per task, in one parallel
/// region per call. Each task finishes its channel (statistics, then the normalised values, or
/// both backward sums, then the input gradient) while its `N * H * W` values are in cache. Smaller
/// planes go to `SmallPlaneKernels`. Each plane's sums are accumulated in single precision on
/// vector lanes, and the planes' totals in double precision.
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
    /// variance are written to `mean` and `variance`, otherwise they are read from there. With
    /// `appliesReLU` negative results are written as zero.
    func forward(
        x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
        computesStatistics: Bool, appliesReLU: Bool = false
    ) {
        guard planeSize >= Self.minimumPlaneSize else {
            SmallPlaneKernels(self).forward(
                x: x, output: output, scale: scale, shift: shift, mean: mean, variance: variance,
                computesStatistics: computesStatistics, appliesReLU: appliesReLU)
            return
        }

        forEachChannel { channel in
            let (input, result) = (x + channel * planeSize, output + channel * planeSize)
            if computesStatistics {
                let channelMean = sum(input) / Double(valuesPerChannel)
                let squaredDeviations = sumOfSquaredDeviations(input, mean: Float(channelMean))
                mean[channel] = Float(channelMean)
                variance[channel] = Float(squaredDeviations / Double(valuesPerChannel))
            }

            let map = affineMap(channel: channel, scale: scale, shift: shift, mean: mean, variance: variance)
            for image in 0..<batch {
                let start = image * channels * planeSize
                affine(input + start, result + start, count: planeSize, map: map, clampsAtZero: appliesReLU)
            }
        }
    }

    /// Returns the forward pass of one channel as `y = x * factor + offset`, with
    /// `factor = gamma / sigma` and `offset = beta - mean * factor`.
    func affineMap(
        channel: Int, scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?, mean: UnsafePointer<Float>,
        variance: UnsafePointer<Float>
    ) -> (factor: Float, offset: Float) {
        let inverseDeviation = 1 / (variance[channel] + epsilon).squareRoot()
        let factor = (scale?[channel] ?? 1) * inverseDeviation
        return (factor, (shift?[channel] ?? 0) - mean[channel] * factor)
    }

    /// Computes the input gradient and, where `scaleGradient` / `shiftGradient` are given, the
    /// gradients of the scale and shift. `usesBatchStatistics` selects the training formula, in
    /// which the mean and variance depend on `x`; otherwise they are constants.
    ///
    /// With `appliesReLU`, `outputGradient` is the gradient of the forward pass's ReLU output. It
    /// counts as zero wherever the forward pass wrote a value that is not positive. That value is
    /// recomputed from `x` and `shift` with the forward pass's own expression, so the mask matches
    /// the output bit for bit.
    func backward(
        outputGradient: UnsafePointer<Float>, x: UnsafePointer<Float>, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, scaleGradient: UnsafeMutablePointer<Float>?,
        shiftGradient: UnsafeMutablePointer<Float>?, usesBatchStatistics: Bool, appliesReLU: Bool = false
    ) {
        guard planeSize >= Self.minimumPlaneSize else {
            SmallPlaneKernels(self).backward(
                outputGradient: outputGradient, x: x, scale: scale, shift: shift, mean: mean, variance: variance,
                inputGradient: inputGradient, scaleGradient: scaleGradient, shiftGradient: shiftGradient,
                usesBatchStatistics: usesBatchStatistics, appliesReLU: appliesReLU)
            return
        }

        forEachChannel { channel in
            let first = channel * planeSize
            let (gradient, values, result) = (outputGradient + first, x + first, inputGradient + first)
            let mask = appliesReLU ? affineMap(channel: channel, scale: scale, shift: shift, mean: mean, variance: variance) : nil

            // sum(dy) and sum(dy * (x - mean)); the latter times 1 / sigma is sum(dy * x_hat).
            var gradientSum = 0.0
            var weightedSum = 0.0
            for image in 0..<batch {
                let start = image * channels * planeSize
                let sums = gradientSums(gradient + start, values + start, count: planeSize, mean: mean[channel], mask: mask)
                gradientSum += sums.gradient
                weightedSum += sums.weighted
            }
            let coefficients = gradientCoefficients(
                channel: channel, scale: scale, variance: variance, gradientSum: gradientSum, weightedSum: weightedSum,
                usesBatchStatistics: usesBatchStatistics)
            scaleGradient?[channel] = coefficients.scaleGradient
            shiftGradient?[channel] = Float(gradientSum)

            for image in 0..<batch {
                let start = image * channels * planeSize
                inputGradientPlane(
                    gradient + start, values + start, result + start, count: planeSize, mean: mean[channel],
                    factor: coefficients.factor, gradientOffset: coefficients.gradientOffset,
                    deviationFactor: coefficients.deviationFactor, mask: mask)
            }
        }
    }

    /// Returns the scale's gradient and the coefficients of
    /// `dx = factor * (dy - gradientOffset - (x - mean) * deviationFactor)` for one channel, from
    /// `gradientSum = sum(dy)` and `weightedSum = sum(dy * (x - mean))`.
    ///
    /// Training: dx = gamma / sigma * (dy - sum(dy) / M - x_hat * sum(dy * x_hat) / M), as the mean
    /// and variance depend on x. Evaluation: dx = gamma / sigma * dy.
    func gradientCoefficients(
        channel: Int, scale: UnsafePointer<Float>?, variance: UnsafePointer<Float>, gradientSum: Double,
        weightedSum: Double, usesBatchStatistics: Bool
    ) -> (scaleGradient: Float, factor: Float, gradientOffset: Float, deviationFactor: Float) {
        let inverseDeviation = 1 / (variance[channel] + epsilon).squareRoot()
        let normalizedSum = Float(weightedSum) * inverseDeviation
        let factor = (scale?[channel] ?? 1) * inverseDeviation
        guard usesBatchStatistics else {
            return (normalizedSum, factor, 0, 0)
        }
        let count = Float(valuesPerChannel)
        return (normalizedSum, factor, Float(gradientSum) / count, normalizedSum * inverseDeviation / count)
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

    /// Planes with fewer values than this go to `SmallPlaneKernels`, which run the vector loops
    /// across channels. Measured at batch 32 and 8, those were faster up to 16x16 planes (0.7
    /// against 1.2 ns a value backward) and as fast at 32x32. At 56x56 and 112x112 they were
    /// slower, because a range of channels no longer stays in cache between passes.
    static let minimumPlaneSize = 1024

    /// Returns the sum of one channel's values, `x` pointing at its plane in the first image.
    private func sum(_ x: UnsafePointer<Float>) -> Double {
        var total = 0.0
        for image in 0..<batch {
            let plane = x + image * channels * planeSize
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

    private func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, mean: Float) -> Double {
        var total = 0.0
        let meanLanes = SIMD8<Float>(repeating: mean)
        for image in 0..<batch {
            let plane = x + image * channels * planeSize
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

    /// Writes `source * factor + offset`, through `relu` when `clampsAtZero`.
    @inline(__always)
    func affine(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int,
        map: (factor: Float, offset: Float), clampsAtZero: Bool
    ) {
        let factorLanes = SIMD8<Float>(repeating: map.factor)
        let offsetLanes = SIMD8<Float>(repeating: map.offset)
        var index = 0
        while index + 8 <= count {
            var result = SIMD8<Float>(loadingFrom: source + index) * factorLanes + offsetLanes
            if clampsAtZero {
                result = Rectifier()(result)
            }
            result.store(to: destination + index)
            index += 8
        }
        while index < count {
            let result = source[index] * map.factor + map.offset
            destination[index] = clampsAtZero ? Rectifier()(result) : result
            index += 1
        }
    }

    /// Returns `gradient` where `x * factor + offset` is positive and zero elsewhere: a ReLU's
    /// backward pass on values that the forward pass computed with the same expression.
    @inline(__always)
    static func masked(
        _ gradient: SIMD8<Float>, x: SIMD8<Float>, factor: SIMD8<Float>, offset: SIMD8<Float>
    ) -> SIMD8<Float> {
        RectifierGradient()(gradient, x * factor + offset)
    }

    @inline(__always)
    static func masked(_ gradient: Float, x: Float, map: (factor: Float, offset: Float)) -> Float {
        RectifierGradient()(gradient, x * map.factor + map.offset)
    }

    /// Returns sum(dy) and sum(dy * (x - mean)) over one plane, with dy masked as in `backward`
    /// when `mask` is the forward pass's affine map.
    private func gradientSums(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float,
        mask: (factor: Float, offset: Float)?
    ) -> (gradient: Double, weighted: Double) {
        let meanLanes = SIMD8<Float>(repeating: mean)
        let factorLanes = SIMD8<Float>(repeating: mask?.factor ?? 0)
        let offsetLanes = SIMD8<Float>(repeating: mask?.offset ?? 0)
        var gradientLanes = SIMD8<Float>()
        var weightedLanes = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            let values = SIMD8<Float>(loadingFrom: x + index)
            var dy = SIMD8<Float>(loadingFrom: gradient + index)
            if mask != nil {
                dy = Self.masked(dy, x: values, factor: factorLanes, offset: offsetLanes)
            }
            gradientLanes += dy
            weightedLanes += dy * (values - meanLanes)
            index += 8
        }
        var gradientTotal = Double(gradientLanes.sum())
        var weightedTotal = Double(weightedLanes.sum())
        while index < count {
            let dy = mask.map { Self.masked(gradient[index], x: x[index], map: $0) } ?? gradient[index]
            gradientTotal += Double(dy)
            weightedTotal += Double(dy * (x[index] - mean))
            index += 1
        }
        return (gradientTotal, weightedTotal)
    }

    /// Writes dx = factor * (dy - gradientOffset - (x - mean) * deviationFactor) for one plane, with
    /// dy masked as in `backward` when `mask` is the forward pass's affine map.
    private func inputGradientPlane(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ result: UnsafeMutablePointer<Float>,
        count: Int, mean: Float, factor: Float, gradientOffset: Float, deviationFactor: Float,
        mask: (factor: Float, offset: Float)?
    ) {
        let meanLanes = SIMD8<Float>(repeating: mean)
        let factorLanes = SIMD8<Float>(repeating: factor)
        let offsetLanes = SIMD8<Float>(repeating: gradientOffset)
        let deviationLanes = SIMD8<Float>(repeating: deviationFactor)
        let maskFactorLanes = SIMD8<Float>(repeating: mask?.factor ?? 0)
        let maskOffsetLanes = SIMD8<Float>(repeating: mask?.offset ?? 0)
        var index = 0
        while index + 8 <= count {
            let values = SIMD8<Float>(loadingFrom: x + index)
            var dy = SIMD8<Float>(loadingFrom: gradient + index)
            if mask != nil {
                dy = Self.masked(dy, x: values, factor: maskFactorLanes, offset: maskOffsetLanes)
            }
            let value = factorLanes * (dy - offsetLanes - (values - meanLanes) * deviationLanes)
            value.store(to: result + index)
            index += 8
        }
        while index < count {
            let dy = mask.map { Self.masked(gradient[index], x: x[index], map: $0) } ?? gradient[index]
            result[index] = factor * (dy - gradientOffset - (x[index] - mean) * deviationFactor)
            index += 1
        }
    }
}
