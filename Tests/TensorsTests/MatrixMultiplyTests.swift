import TestSupport
import XCTest

@testable import Tensors

/// `a · b` for row-major `[rows, inner]` and `[inner, columns]` value lists, in double precision.
private func referenceProduct(_ a: [Float], _ b: [Float], rows: Int, inner: Int, columns: Int) -> [Float] {
    var result: [Float] = []
    for row in 0..<rows {
        for column in 0..<columns {
            var total = 0.0
            for k in 0..<inner {
                total += Double(a[row * inner + k]) * Double(b[k * columns + column])
            }
            result.append(Float(total))
        }
    }
    return result
}

/// The transpose of a row-major `[rows, columns]` value list.
private func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
    var result: [Float] = []
    for column in 0..<columns {
        for row in 0..<rows {
            result.append(values[row * columns + column])
        }
    }
    return result
}

final class MatrixMultiplyTests: XCTestCase {
    func testMatmulForwardMatchesDirectLoops() {
        var generator = RandomGenerator(seed: 1)
        let a = Tensor.randomNormal([5, 7], generator: &generator)
        let b = Tensor.randomNormal([7, 3], generator: &generator)
        let output = matmul(a, b)
        XCTAssertEqual(output.shape, [5, 3])
        assertClose(output.scalars, referenceProduct(a.scalars, b.scalars, rows: 5, inner: 7, columns: 3), "matmul")
    }

    func testMatmulHandComputedValues() {
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let a = Tensor([1, 2, 3, 4], shape: [2, 2])
        let b = Tensor([5, 6, 7, 8], shape: [2, 2])
        XCTAssertEqual(matmul(a, b).scalars, [19, 22, 43, 50])
    }

    func testLinearForwardMatchesDirectLoops() {
        var generator = RandomGenerator(seed: 2)
        let x = Tensor.randomNormal([4, 6], generator: &generator)
        let weight = Tensor.randomNormal([3, 6], generator: &generator)
        let bias = Tensor.randomNormal([3], generator: &generator)
        let output = linear(x, weight: weight, bias: bias)

        var expected = referenceProduct(x.scalars, transposed(weight.scalars, rows: 3, columns: 6), rows: 4, inner: 6, columns: 3)
        for index in expected.indices {
            expected[index] += bias.scalars[index % 3]
        }
        XCTAssertEqual(output.shape, [4, 3])
        assertClose(output.scalars, expected, "linear with bias")

        let withoutBias = linear(x, weight: weight, bias: nil)
        let product = referenceProduct(x.scalars, transposed(weight.scalars, rows: 3, columns: 6), rows: 4, inner: 6, columns: 3)
        assertClose(withoutBias.scalars, product, "linear without bias")
    }

    func testMatmulGradientsMatchFiniteDifferences() {
        var generator = RandomGenerator(seed: 3)
        let a = Tensor.randomNormal([4, 5], generator: &generator)
        let b = Tensor.randomNormal([5, 3], generator: &generator)
        let result = checkGradients(of: [a, b], step: 1e-2) { tensors in
            matmul(tensors[0], tensors[1])
        }
        XCTAssertLessThan(result.maximumRelativeError, 5e-3, "worst \(result.worst)")
    }

    func testLinearGradientsMatchFiniteDifferences() {
        var generator = RandomGenerator(seed: 4)
        let x = Tensor.randomNormal([3, 5], generator: &generator)
        let weight = Tensor.randomNormal([4, 5], generator: &generator)
        let bias = Tensor.randomNormal([4], generator: &generator)
        let result = checkGradients(of: [x, weight, bias], step: 1e-2) { tensors in
            linear(tensors[0], weight: tensors[1], bias: tensors[2])
        }
        XCTAssertLessThan(result.maximumRelativeError, 5e-3, "worst \(result.worst)")

        let noBias = checkGradients(of: [x, weight], step: 1e-2) { tensors in
            linear(tensors[0], weight: tensors[1], bias: nil)
        }
        XCTAssertLessThan(noBias.maximumRelativeError, 5e-3, "without bias, worst \(noBias.worst)")
    }

    func testLinearLargeShapeMatchesDirectLoops() {
        // Large enough for oneDNN to split the product across threads and blocks.
        var generator = RandomGenerator(seed: 5)
        let x = Tensor.randomNormal([33, 70], generator: &generator)
        let weight = Tensor.randomNormal([65, 70], generator: &generator)
        let output = linear(x, weight: weight, bias: nil)
        let expected = referenceProduct(x.scalars, transposed(weight.scalars, rows: 65, columns: 70), rows: 33, inner: 70, columns: 65)
        assertClose(output.scalars, expected, absolute: 1e-4, "33x70 by 70x65")
    }
}
