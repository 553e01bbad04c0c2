import Dispatch
import Tensors

/// Sum of squares, zeros and non-finite elements of a tensor, found in one pass over its values.
public struct TensorStatistics: Equatable, Sendable {
    /// Σ x² over finite elements, accumulated in double precision.
    public var sumOfSquares: Double = 0
    public var zeroCount = 0
    public var nonfiniteCount = 0
    public var count = 0

    public init() {}

    /// The statistics of every element of `tensor`, using all cores for large tensors.
    public init(of tensor: Tensor) {
        let pointer = tensor.storage.pointer
        let total = tensor.count
        let chunks = min(kernelThreadCount, max(1, total / 65_536))
        let chunkSize = (total + chunks - 1) / max(chunks, 1)
        var partials = [TensorStatistics](repeating: TensorStatistics(), count: chunks)
        partials.withUnsafeMutableBufferPointer { buffer in
            let destination = buffer.baseAddress!
            runConcurrently(iterations: chunks) { chunk in
                var part = TensorStatistics()
                let start = chunk * chunkSize
                let end = min(total, start + chunkSize)
                var squares = 0.0
                var zeros = 0
                var nonfinite = 0
                if start < end {
                    for index in start..<end {
                        let value = pointer[index]
                        if value == 0 {
                            zeros += 1
                        } else if value.isFinite {
                            squares += Double(value) * Double(value)
                        } else {
                            nonfinite += 1
                        }
                    }
                }
                part.sumOfSquares = squares
                part.zeroCount = zeros
                part.nonfiniteCount = nonfinite
                part.count = max(0, end - start)
                destination[chunk] = part
            }
        }
        self = partials.reduce(into: TensorStatistics()) { $0.merge($1) }
    }

    /// Adds another tensor's statistics, as if the two were one concatenated tensor.
    public mutating func merge(_ other: TensorStatistics) {
        sumOfSquares += other.sumOfSquares
        zeroCount += other.zeroCount
        nonfiniteCount += other.nonfiniteCount
        count += other.count
    }

    /// The L2 norm, NaN when any element is not finite (as PyTorch's `norm()` would return).
    public var l2: Double {
        nonfiniteCount > 0 ? .nan : sumOfSquares.squareRoot()
    }
}
