import Tensors
import XCTest

final class SubnormalFlushingTests: XCTestCase {
    /// Half the smallest normal float is subnormal: kept outside the closure, zero inside it
    /// (flush to zero), and read as zero inside it when it is an input (denormals are zero).
    /// The mode is restored afterwards, even on the threads of a parallel loop.
    func testFlushesOnlyInsideTheClosure() throws {
        #if arch(x86_64)
        let values: [Float] = [Float.leastNormalMagnitude, 0.5]
        let subnormal = values[0] * values[1]
        XCTAssertEqual(subnormal, Float.leastNormalMagnitude / 2, "IEEE mode keeps subnormals")

        let (product, sum) = withSubnormalsFlushedToZero { (values[0] * values[1], subnormal + 0) }
        XCTAssertEqual(product, 0, "a subnormal result is flushed")
        XCTAssertEqual(sum, 0, "a subnormal input reads as zero")

        XCTAssertEqual(values[0] * values[1], Float.leastNormalMagnitude / 2, "the mode is restored")
        var products = [Float](repeating: -1, count: 2)
        products.withUnsafeMutableBufferPointer { buffer in
            let destination = buffer.baseAddress!
            runConcurrently(iterations: 2) { index in
                _ = withSubnormalsFlushedToZero { values[0] * values[1] }
                destination[index] = values[0] * values[1]
            }
        }
        XCTAssertEqual(products, [Float.leastNormalMagnitude / 2, Float.leastNormalMagnitude / 2])
        #else
        throw XCTSkip("flushing subnormals is implemented for x86-64 only")
        #endif
    }
}
