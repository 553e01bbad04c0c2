import Dispatch
import Tensors

/// Sum of squares, zeros and non-finite elements of a tensor, found in one pass over its values.
public struct TensorStatistics: Equatable, Sendable {
    /// Σ x² over finite elements: in float lanes within blocks of 1,024 elements, then in double
    /// precision (relative error about 1e-6).
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
                var blockStart = start
                while blockStart < end {
                    let blockEnd = min(end, blockStart + TensorStatistics.blockLength)
                    if let block = TensorStatistics.fastBlock(pointer, blockStart..<blockEnd) {
                        squares += block.squares
                        zeros += block.zeros
                    } else {
                        for index in blockStart..<blockEnd {
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
                    blockStart = blockEnd
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

    /// Elements per block of the vector pass: float lanes sum 128 squares each before the block's
    /// total goes to double precision, which keeps the relative rounding error near 1e-6.
    static let blockLength = 1_024

    /// Returns the sum of squares and the zero count of one block, summed on 8 float lanes, or nil
    /// when the block contains a non-finite value or a square overflows. The caller then runs the
    /// exact scalar loop.
    @inline(__always)
    static func fastBlock(_ pointer: UnsafeMutablePointer<Float>, _ range: Range<Int>) -> (squares: Double, zeros: Int)? {
        var squareLanes = SIMD8<Float>()
        var zeroLanes = SIMD8<Int32>()
        var index = range.lowerBound
        let vectorEnd = index + range.count / 8 * 8
        while index < vectorEnd {
            let value = UnsafeRawPointer(pointer + index).loadUnaligned(as: SIMD8<Float>.self)
            squareLanes += value * value
            // A true mask lane is -1 as an integer.
            zeroLanes &-= unsafeBitCast(value .== SIMD8<Float>(), to: SIMD8<Int32>.self)
            index += 8
        }
        var squares = squareLanes.sum()
        var zeros = Int(zeroLanes.wrappedSum())
        while index < range.upperBound {
            let value = pointer[index]
            squares += value * value
            zeros += value == 0 ? 1 : 0
            index += 1
        }
        guard squares.isFinite else {
            return nil
        }
        return (Double(squares), zeros)
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
