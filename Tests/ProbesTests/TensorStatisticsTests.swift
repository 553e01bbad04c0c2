import Foundation
import Probes
import Tensors
import XCTest

/// The vector pass of `TensorStatistics` against sums computed here in double precision, one
/// element at a time.
final class TensorStatisticsTests: XCTestCase {
    private func reference(_ values: [Float]) -> (squares: Double, zeros: Int, nonfinite: Int) {
        var result = (squares: 0.0, zeros: 0, nonfinite: 0)
        for value in values {
            if value == 0 {
                result.zeros += 1
            } else if value.isFinite {
                result.squares += Double(value) * Double(value)
            } else {
                result.nonfinite += 1
            }
        }
        return result
    }

    func testLargeTensorMatchesDoubleSums() {
        // Three chunks' worth across threads, whole blocks, and a tail that is not a multiple of 8.
        var generator = RandomGenerator(seed: 4)
        var values = Tensor.randomNormal([200_003], generator: &generator).scalars
        for index in stride(from: 0, to: values.count, by: 7) {
            values[index] = 0
        }
        let statistics = TensorStatistics(of: Tensor(values, shape: [values.count]))
        let expected = reference(values)
        XCTAssertEqual(statistics.count, values.count)
        XCTAssertEqual(statistics.zeroCount, expected.zeros)
        XCTAssertEqual(statistics.nonfiniteCount, 0)
        XCTAssertEqual(statistics.sumOfSquares, expected.squares, accuracy: expected.squares * 1e-6)
    }

    func testNonfiniteValuesCountedExactly() {
        var values = [Float](repeating: 0.5, count: 3_000)
        values[10] = .nan
        values[1_500] = .infinity
        values[2_999] = -.infinity
        values[2_000] = 1e20  // finite, but its float square overflows
        values[5] = 0
        let statistics = TensorStatistics(of: Tensor(values, shape: [values.count]))
        let expected = reference(values)
        XCTAssertEqual(statistics.nonfiniteCount, 3)
        XCTAssertEqual(statistics.zeroCount, 1)
        XCTAssertEqual(statistics.sumOfSquares, expected.squares, accuracy: expected.squares * 1e-6)
        XCTAssertEqual(statistics.sumOfSquares, 1e40, accuracy: 1e35)
        XCTAssertTrue(statistics.l2.isNaN)
    }
}
