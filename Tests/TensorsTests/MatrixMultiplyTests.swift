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

/// Returns `x · weightᵀ + bias` for `x` `[rows, inner]` and `weight` `[columns, inner]`, in double precision.
private func referenceLinear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> [Float] {
    let (rows, inner, columns) = (x.shape[0], x.shape[1], weight.shape[0])
    var result = referenceProduct(x.scalars, transposed(weight.scalars, rows: columns, columns: inner), rows: rows, inner: inner, columns: columns)
    if let bias {
        for index in result.indices {
            result[index] += bias.scalars[index % columns]
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
        XCTAssertEqual(output.shape, [4, 3])
        assertClose(output.scalars, referenceLinear(x, weight, bias), "linear with bias")

        let withoutBias = linear(x, weight: weight, bias: nil)
        assertClose(withoutBias.scalars, referenceLinear(x, weight, nil), "linear without bias")
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
        assertClose(output.scalars, referenceLinear(x, weight, nil), absolute: 1e-4, "33x70 by 70x65")
    }

    func testLinearSplitIntoFeatureBlocksMatchesDirectLoops() {
        // Over 2^20 multiply-adds with a batch narrower than the output: each thread computes a
        // block of output features (64 and 36 here) and transposes it into place with the bias.
        var generator = RandomGenerator(seed: 6)
        let x = Tensor.randomNormal([40, 300], generator: &generator)
        let weight = Tensor.randomNormal([100, 300], generator: &generator)
        let bias = Tensor.randomNormal([100], generator: &generator)
        let output = linear(x, weight: weight, bias: bias)
        XCTAssertEqual(output.shape, [40, 100])
        assertClose(output.scalars, referenceLinear(x, weight, bias), absolute: 1e-4, "40x300 by 300x100 with bias")
    }

    func testLinearWithLongInputsAndFewFeatures() {
        // Over 2^20 multiply-adds, but too few output features for two blocks of 16.
        var generator = RandomGenerator(seed: 7)
        let x = Tensor.randomNormal([5, 30_000], generator: &generator)
        let weight = Tensor.randomNormal([10, 30_000], generator: &generator)
        let output = linear(x, weight: weight, bias: nil)
        assertClose(output.scalars, referenceLinear(x, weight, nil), absolute: 1e-2, "5x30000 by 30000x10")
    }
}
