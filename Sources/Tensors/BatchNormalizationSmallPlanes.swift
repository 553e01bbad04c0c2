/// Batch normalisation of `[N, C, H, W]` tensors whose planes hold fewer than
/// `BatchNormalizationKernels.minimumPlaneSize` values.
///
/// Image `n` is one contiguous row of `C * P` values (`P = H * W`), in which channel `c` owns the
/// columns `c * P ..< (c + 1) * P`. These kernels run their vector loops along the rows, over a
/// range of channels per thread, accumulate down the `N` rows per column, and only then add up
/// each channel's `P` columns. Planes of 1 or 4 values left the per-channel vector loops of
/// `BatchNormalizationKernels` on their scalar tails, at 5 to 7 ns a value. Here they take 0.3 to
/// 0.8 ns.
struct SmallPlaneKernels {
    private let kernels: BatchNormalizationKernels

    init(_ kernels: BatchNormalizationKernels) {
        self.kernels = kernels
    }

    private var batch: Int { kernels.batch }
    private var planeSize: Int { kernels.planeSize }
    private var rowLength: Int { kernels.channels * kernels.planeSize }

    /// Does what `BatchNormalizationKernels.forward` does, with the same arguments.
    func forward(
        x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
        computesStatistics: Bool, appliesReLU: Bool
    ) {
        forEachChannelRange { channels, width in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * width) { buffer in
                let first = buffer.baseAddress!
                let second = first + width
                let start = channels.lowerBound * planeSize

                if computesStatistics {
                    columnSums(x + start, width: width, into: first) { values, _ in values }
                    for channel in channels {
                        mean[channel] = Float(channelTotal(first, channel: channel, of: channels) / Double(kernels.valuesPerChannel))
                    }
                    spread(channels, into: second) { mean[$0] }
                    columnSums(x + start, width: width, into: first) { values, column in
                        let deviation = values - SIMD8<Float>(loadingFrom: second + column)
                        return deviation * deviation
                    } scalar: { value, column in
                        let deviation = value - second[column]
                        return deviation * deviation
                    }
                    for channel in channels {
                        variance[channel] = Float(channelTotal(first, channel: channel, of: channels) / Double(kernels.valuesPerChannel))
                    }
                }

                let maps = channels.map { kernels.affineMap(channel: $0, scale: scale, shift: shift, mean: mean, variance: variance) }
                spread(channels, into: first) { maps[$0 - channels.lowerBound].factor }
                spread(channels, into: second) { maps[$0 - channels.lowerBound].offset }
                for image in 0..<batch {
                    let row = image * rowLength + start
                    affine(x + row, output + row, factors: first, offsets: second, count: width, clampsAtZero: appliesReLU)
                }
            }
        }
    }

    /// Does what `BatchNormalizationKernels.backward` does, with the same arguments.
    func backward(
        outputGradient: UnsafePointer<Float>, x: UnsafePointer<Float>, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, mean: UnsafePointer<Float>, variance: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, scaleGradient: UnsafeMutablePointer<Float>?,
        shiftGradient: UnsafeMutablePointer<Float>?, usesBatchStatistics: Bool, appliesReLU: Bool
    ) {
        forEachChannelRange { channels, width in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 6 * width) { buffer in
                let maskFactors = buffer.baseAddress!
                let maskOffsets = maskFactors + width
                let means = maskOffsets + width
                let (first, second, third) = (means + width, means + 2 * width, means + 3 * width)
                let start = channels.lowerBound * planeSize

                // The ReLU mask comes from the forward pass's own affine map, value for value.
                if appliesReLU {
                    let maps = channels.map { kernels.affineMap(channel: $0, scale: scale, shift: shift, mean: mean, variance: variance) }
                    spread(channels, into: maskFactors) { maps[$0 - channels.lowerBound].factor }
                    spread(channels, into: maskOffsets) { maps[$0 - channels.lowerBound].offset }
                }
                spread(channels, into: means) { mean[$0] }

                // The column sums of dy and of dy * (x - mean), then each channel's totals.
                for column in 0..<width {
                    first[column] = 0
                    second[column] = 0
                }
                for image in 0..<batch {
                    let row = image * rowLength + start
                    accumulateGradientSums(
                        outputGradient + row, x + row, means: means, maskFactors: appliesReLU ? maskFactors : nil,
                        maskOffsets: maskOffsets, count: width, gradientSums: first, weightedSums: second)
                }
                var coefficients: [(scaleGradient: Float, factor: Float, gradientOffset: Float, deviationFactor: Float)] = []
                for channel in channels {
                    let gradientSum = channelTotal(first, channel: channel, of: channels)
                    let weightedSum = channelTotal(second, channel: channel, of: channels)
                    let channelCoefficients = kernels.gradientCoefficients(
                        channel: channel, scale: scale, variance: variance, gradientSum: gradientSum,
                        weightedSum: weightedSum, usesBatchStatistics: usesBatchStatistics)
                    scaleGradient?[channel] = channelCoefficients.scaleGradient
                    shiftGradient?[channel] = Float(gradientSum)
                    coefficients.append(channelCoefficients)
                }

                spread(channels, into: first) { coefficients[$0 - channels.lowerBound].factor }
                spread(channels, into: second) { coefficients[$0 - channels.lowerBound].gradientOffset }
                spread(channels, into: third) { coefficients[$0 - channels.lowerBound].deviationFactor }
                for image in 0..<batch {
                    let row = image * rowLength + start
                    inputGradientRow(
                        outputGradient + row, x + row, inputGradient + row, means: means,
                        maskFactors: appliesReLU ? maskFactors : nil, maskOffsets: maskOffsets, factors: first,
                        gradientOffsets: second, deviationFactors: third, count: width)
                }
            }
        }
    }

    /// Runs `body` on ranges of channels across the kernel threads, with the number of columns
    /// the range covers.
    private func forEachChannelRange(_ body: (Range<Int>, Int) -> Void) {
        let channelsPerTask = max(1, 32_768 / max(1, batch * planeSize))
        parallelChunks(kernels.channels, minimumChunk: channelsPerTask) { channels in
            body(channels, channels.count * planeSize)
        }
    }

    /// Writes each channel's value from `value` into its `planeSize` columns of `destination`.
    private func spread(_ channels: Range<Int>, into destination: UnsafeMutablePointer<Float>, _ value: (Int) -> Float) {
        for channel in channels {
            let channelValue = value(channel)
            let first = (channel - channels.lowerBound) * planeSize
            for position in 0..<planeSize {
                destination[first + position] = channelValue
            }
        }
    }

    /// Returns the total of `channel`'s columns in `columns`, which starts at the first channel of
    /// `range`.
    private func channelTotal(_ columns: UnsafePointer<Float>, channel: Int, of range: Range<Int>) -> Double {
        let first = (channel - range.lowerBound) * planeSize
        var total = 0.0
        for position in 0..<planeSize {
            total += Double(columns[first + position])
        }
        return total
    }

    /// Sums `term(values, column)` down the rows of the `width` columns from `x` into `sums`.
    private func columnSums(
        _ x: UnsafePointer<Float>, width: Int, into sums: UnsafeMutablePointer<Float>,
        _ term: (SIMD8<Float>, Int) -> SIMD8<Float>,
        scalar scalarTerm: ((Float, Int) -> Float)? = nil
    ) {
        for column in 0..<width {
            sums[column] = 0
        }
        for image in 0..<batch {
            let row = x + image * rowLength
            var column = 0
            while column + 8 <= width {
                let total = SIMD8<Float>(loadingFrom: sums + column) + term(SIMD8<Float>(loadingFrom: row + column), column)
                total.store(to: sums + column)
                column += 8
            }
            while column < width {
                sums[column] += scalarTerm?(row[column], column) ?? row[column]
                column += 1
            }
        }
    }

    /// Writes `x * factors + offsets` along one row, through `relu` when `clampsAtZero`, with
    /// the same arithmetic as `BatchNormalizationKernels.affine`.
    private func affine(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, factors: UnsafePointer<Float>,
        offsets: UnsafePointer<Float>, count: Int, clampsAtZero: Bool
    ) {
        var index = 0
        while index + 8 <= count {
            var result = SIMD8<Float>(loadingFrom: source + index) * SIMD8<Float>(loadingFrom: factors + index)
                + SIMD8<Float>(loadingFrom: offsets + index)
            if clampsAtZero {
                result = Rectifier()(result)
            }
            result.store(to: destination + index)
            index += 8
        }
        while index < count {
            let result = source[index] * factors[index] + offsets[index]
            destination[index] = clampsAtZero ? Rectifier()(result) : result
            index += 1
        }
    }

    /// Adds one row's dy and dy * (x - mean) to the column sums, with dy masked by the forward
    /// pass's ReLU when `maskFactors` is given.
    private func accumulateGradientSums(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, means: UnsafePointer<Float>,
        maskFactors: UnsafePointer<Float>?, maskOffsets: UnsafePointer<Float>, count: Int,
        gradientSums: UnsafeMutablePointer<Float>, weightedSums: UnsafeMutablePointer<Float>
    ) {
        var index = 0
        while index + 8 <= count {
            let (values, dy) = Self.load(gradient, x, at: index, maskFactors: maskFactors, maskOffsets: maskOffsets)
            (SIMD8<Float>(loadingFrom: gradientSums + index) + dy).store(to: gradientSums + index)
            let weighted = dy * (values - SIMD8<Float>(loadingFrom: means + index))
            (SIMD8<Float>(loadingFrom: weightedSums + index) + weighted).store(to: weightedSums + index)
            index += 8
        }
        while index < count {
            let dy = Self.loadOne(gradient, x, at: index, maskFactors: maskFactors, maskOffsets: maskOffsets)
            gradientSums[index] += dy
            weightedSums[index] += dy * (x[index] - means[index])
            index += 1
        }
    }

    /// Writes dx = factor * (dy - gradientOffset - (x - mean) * deviationFactor) along one row,
    /// with per-column coefficients and dy masked as in `accumulateGradientSums`.
    private func inputGradientRow(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ result: UnsafeMutablePointer<Float>,
        means: UnsafePointer<Float>, maskFactors: UnsafePointer<Float>?, maskOffsets: UnsafePointer<Float>,
        factors: UnsafePointer<Float>, gradientOffsets: UnsafePointer<Float>, deviationFactors: UnsafePointer<Float>,
        count: Int
    ) {
        var index = 0
        while index + 8 <= count {
            let (values, dy) = Self.load(gradient, x, at: index, maskFactors: maskFactors, maskOffsets: maskOffsets)
            let deviation = values - SIMD8<Float>(loadingFrom: means + index)
            let factor = SIMD8<Float>(loadingFrom: factors + index)
            let gradientOffset = SIMD8<Float>(loadingFrom: gradientOffsets + index)
            let deviationFactor = SIMD8<Float>(loadingFrom: deviationFactors + index)
            (factor * (dy - gradientOffset - deviation * deviationFactor)).store(to: result + index)
            index += 8
        }
        while index < count {
            let dy = Self.loadOne(gradient, x, at: index, maskFactors: maskFactors, maskOffsets: maskOffsets)
            result[index] = factors[index] * (dy - gradientOffsets[index] - (x[index] - means[index]) * deviationFactors[index])
            index += 1
        }
    }

    /// Loads eight values of `x` from `index` and their output gradient, masked by the forward
    /// pass's ReLU when `maskFactors` is given.
    @inline(__always)
    private static func load(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, at index: Int,
        maskFactors: UnsafePointer<Float>?, maskOffsets: UnsafePointer<Float>
    ) -> (values: SIMD8<Float>, gradient: SIMD8<Float>) {
        let values = SIMD8<Float>(loadingFrom: x + index)
        let dy = SIMD8<Float>(loadingFrom: gradient + index)
        guard let maskFactors else {
            return (values, dy)
        }
        let mask = (SIMD8<Float>(loadingFrom: maskFactors + index), SIMD8<Float>(loadingFrom: maskOffsets + index))
        return (values, BatchNormalizationKernels.masked(dy, x: values, factor: mask.0, offset: mask.1))
    }

    /// Loads the output gradient at `index`, masked as in `load`.
    @inline(__always)
    private static func loadOne(
        _ gradient: UnsafePointer<Float>, _ x: UnsafePointer<Float>, at index: Int,
        maskFactors: UnsafePointer<Float>?, maskOffsets: UnsafePointer<Float>
    ) -> Float {
        guard let maskFactors else {
            return gradient[index]
        }
        return BatchNormalizationKernels.masked(gradient[index], x: x[index], map: (maskFactors[index], maskOffsets[index]))
    }
}
