import Foundation
import XCTest

@testable import Tensors

/// Sigmoid and tanh values from oneDNN's element-wise kernels against double-precision
/// references, over saturated, tiny and ordinary inputs and a count with a SIMD tail.
final class EltwiseTests: XCTestCase {
    private func inputs() -> [Float] {
        var values: [Float] = [0, -0.0, 1e-7, -1e-7, 0.5, -0.5, 3, -3, 15, -15, 20, -20, 88, -88, 100, -100, 1e30, -1e30]
        var generator = RandomGenerator(seed: 12)
        for _ in 0..<1_003 {
            values.append(Float(generator.nextNormal()) * 6)
        }
        return values
    }

    func testSigmoidValues() {
        let values = inputs()
        let output = sigmoid(Tensor(values, shape: [values.count]))
        let expected = values.map { Float(1 / (1 + Foundation.exp(-Double($0)))) }
        assertClose(output.scalars, expected, absolute: 1e-7, relative: 1e-6, "sigmoid")
    }

    func testTanhValues() {
        let values = inputs()
        let output = tanh(Tensor(values, shape: [values.count]))
        let expected = values.map { Float(Foundation.tanh(Double($0))) }
        assertClose(output.scalars, expected, absolute: 1e-7, relative: 1e-6, "tanh")
    }

    func testSigmoidKeepsShape() {
        let x = Tensor([-1, 0, 1, 2, 3, 4], shape: [2, 3])
        let output = sigmoid(x)
        XCTAssertEqual(output.shape, [2, 3])
        XCTAssertEqual(output[0, 1], 0.5)
    }

    func testSigmoidOfEmptyTensor() {
        let output = sigmoid(Tensor([], shape: [0, 4]))
        XCTAssertEqual(output.shape, [0, 4])
        XCTAssertEqual(output.count, 0)
    }
}
