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
    /// variance are written to `mean` and `variance`, otherwise they are read from there. With
    /// `appliesReLU` negative results are written as zero.
    func forward(
        x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
        computesStatistics: Bool, appliesReLU: Bool = false
    ) {
        forEachChannel { channel in
            withContiguousRuns(reading: [x], writing: output, channel: channel) { inputs, result, runs in
                if computesStatistics {
                    let channelMean = sum(inputs[0], runs) / Double(valuesPerChannel)
                    let squaredDeviations = sumOfSquaredDeviations(inputs[0], runs, mean: Float(channelMean))
                    mean[channel] = Float(channelMean)
                    variance[channel] = Float(squaredDeviations / Double(valuesPerChannel))
                }

                let map = affineMap(channel: channel, scale: scale, shift: shift, mean: mean, variance: variance)
                for run in 0..<runs.count {
                    let start = run * runs.stride
                    if appliesReLU {
                        affine(inputs[0] + start, result + start, count: runs.length, map: map, clampsAtZero: true)
                    } else {
                        affine(inputs[0] + start, result + start, count: runs.length, map: map, clampsAtZero: false)
                    }
                }
            }
        }
    }

    /// The forward pass of one channel as `y = x * factor + offset`, with `factor = gamma / sigma`
    /// and `offset = beta - mean * factor`.
    private func affineMap(
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
        forEachChannel { channel in
            withContiguousRuns(reading: [outputGradient, x], writing: inputGradient, channel: channel) { inputs, result, runs in
                let (gradient, values) = (inputs[0], inputs[1])
                let channelMean = mean[channel]
                let inverseDeviation = 1 / (variance[channel] + epsilon).squareRoot()
                let gamma = scale?[channel] ?? 1
                let mask = appliesReLU ? affineMap(channel: channel, scale: scale, shift: shift, mean: mean, variance: variance) : nil

                // sum(dy) and sum(dy * (x - mean)); the latter times 1 / sigma is sum(dy * x_hat).
                var gradientSum = 0.0
                var weightedSum = 0.0
                for run in 0..<runs.count {
                    let start = run * runs.stride
                    let sums = gradientSums(gradient + start, values + start, count: runs.length, mean: channelMean, mask: mask)
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
                for run in 0..<runs.count {
                    let start = run * runs.stride
                    inputGradientPlane(
                        gradient + start, values + start, result + start, count: runs.length, mean: channelMean,
                        factor: factor, gradientOffset: gradientOffset, deviationFactor: deviationFactor, mask: mask)
                }
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

    /// Where one channel's values lie: `count` runs of `length` values, each `stride` after the
    /// previous one.
    private struct Runs {
        let count: Int
        let stride: Int
        let length: Int
    }

    /// Planes shorter than this are copied into one contiguous run first. In such planes the
    /// vector loops would run mostly or entirely on their scalar tails: ResNet's last two stages
    /// at 32x32 input have 2x2 and 1x1 planes.
    private static let minimumPlaneSize = 16

    /// Calls `body` with pointers to `channel`'s values in each of `inputs` and in `output`, laid
    /// out as the `Runs` it is given. Large planes are used in place. Small planes are gathered
    /// into one contiguous run, and `body`'s result is scattered back into `output`.
    private func withContiguousRuns(
        reading inputs: [UnsafePointer<Float>], writing output: UnsafeMutablePointer<Float>, channel: Int,
        _ body: ([UnsafePointer<Float>], UnsafeMutablePointer<Float>, Runs) -> Void
    ) {
        let first = channel * planeSize
        guard planeSize < Self.minimumPlaneSize else {
            body(inputs.map { $0 + first }, output + first, Runs(count: batch, stride: channels * planeSize, length: planeSize))
            return
        }

        let length = valuesPerChannel
        withUnsafeTemporaryAllocation(of: Float.self, capacity: length * (inputs.count + 1)) { buffer in
            let scratch = buffer.baseAddress!
            for (index, input) in inputs.enumerated() {
                copyChannel(from: input + first, to: scratch + index * length, gathering: true)
            }
            let result = scratch + inputs.count * length
            body((0..<inputs.count).map { UnsafePointer(scratch + $0 * length) }, result, Runs(count: 1, stride: 0, length: length))
            copyChannel(from: result, to: output + first, gathering: false)
        }
    }

    /// Copies one channel's planes into a contiguous run (`gathering`) or back.
    private func copyChannel(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, gathering: Bool) {
        let stride = channels * planeSize
        for image in 0..<batch {
            for position in 0..<planeSize {
                if gathering {
                    destination[image * planeSize + position] = source[image * stride + position]
                } else {
                    destination[image * stride + position] = source[image * planeSize + position]
                }
            }
        }
    }

    private func sum(_ x: UnsafePointer<Float>, _ runs: Runs) -> Double {
        var total = 0.0
        for run in 0..<runs.count {
            let plane = x + run * runs.stride
            var lanes = SIMD8<Float>()
            var index = 0
            while index + 8 <= runs.length {
                lanes += SIMD8<Float>(loadingFrom: plane + index)
                index += 8
            }
            var planeTotal = Double(lanes.sum())
            while index < runs.length {
                planeTotal += Double(plane[index])
                index += 1
            }
            total += planeTotal
        }
        return total
    }

    private func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, _ runs: Runs, mean: Float) -> Double {
        var total = 0.0
        let meanLanes = SIMD8<Float>(repeating: mean)
        for run in 0..<runs.count {
            let plane = x + run * runs.stride
            var lanes = SIMD8<Float>()
            var index = 0
            while index + 8 <= runs.length {
                let deviation = SIMD8<Float>(loadingFrom: plane + index) - meanLanes
                lanes += deviation * deviation
                index += 8
            }
            var planeTotal = Double(lanes.sum())
            while index < runs.length {
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
    private func affine(
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

    /// `gradient` where `x * factor + offset` is positive, else zero: a ReLU's backward pass on
    /// values the forward pass computed with the same expression.
    @inline(__always)
    private static func masked(
        _ gradient: SIMD8<Float>, x: SIMD8<Float>, factor: SIMD8<Float>, offset: SIMD8<Float>
    ) -> SIMD8<Float> {
        RectifierGradient()(gradient, x * factor + offset)
    }

    @inline(__always)
    private static func masked(_ gradient: Float, x: Float, map: (factor: Float, offset: Float)) -> Float {
        RectifierGradient()(gradient, x * map.factor + map.offset)
    }

    /// sum(dy) and sum(dy * (x - mean)) over one plane, with dy masked as in `backward` when
    /// `mask` holds the forward pass's affine map.
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

    /// dx = factor * (dy - gradientOffset - (x - mean) * deviationFactor), with dy masked as in
    /// `backward` when `mask` holds the forward pass's affine map.
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
