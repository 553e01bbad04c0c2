import TestSupport
import XCTest

@testable import Tensors

final class AutogradTests: XCTestCase {
    func testBackwardAccumulatesSharedInput() {
        // y = x * x + 3x has dy/dx = 2x + 3.
        let x = Tensor([1, -2, 0.5], shape: [3], requiresGradient: true)
        let y = sum(x * x + x * 3)
        y.backward()
        XCTAssertEqual(x.grad?.scalars, [5, -1, 4])
    }

    func testGradientHookSeesFinalGradientOnce() {
        let x = Tensor([1, 2], shape: [2], requiresGradient: true)
        let hidden = x * 2
        var calls: [[Float]] = []
        hidden.registerGradientHook { calls.append($0.scalars) }
        let y = sum(hidden * hidden + hidden)
        y.backward()
        // d/dh (h^2 + h) = 2h + 1 with h = [2, 4].
        XCTAssertEqual(calls, [[5, 9]])
        XCTAssertEqual(x.grad?.scalars, [10, 18])
    }

    func testBackwardFreesGraph() {
        let x = Tensor([1, 2], shape: [2], requiresGradient: true)
        let hidden = relu(x)
        let y = sum(hidden)
        y.backward()
        XCTAssertFalse(y.hasGraph)
        XCTAssertFalse(hidden.hasGraph)
    }

    func testWithoutGradientRecordsNothing() {
        let x = Tensor([1, 2], shape: [2], requiresGradient: true)
        let y = GradientMode.withoutGradient { sum(x * x) }
        XCTAssertFalse(y.requiresGradient)
        XCTAssertFalse(y.hasGraph)
    }

    func testElementwiseGradientsMatchFiniteDifferences() {
        var generator = RandomGenerator(seed: 1)
        let x = Tensor.randomNormal([2, 3, 4], generator: &generator)
        let bias = Tensor.randomNormal([3, 1], generator: &generator)
        let cases: [(String, ([Tensor]) -> Tensor)] = [
            ("sigmoid", { sigmoid($0[0]) }),
            ("tanh", { tanh($0[0]) }),
            ("relu", { relu($0[0]) }),
            ("scale", { $0[0] * 0.5 }),
            ("broadcast add", { add($0[0], $0[1]) }),
            ("reshape", { $0[0].reshaped([6, -1]) }),
            ("mean", { mean($0[0]) }),
            ("composition", { mean(tanh(add($0[0], $0[1])) * sigmoid($0[0])) }),
        ]
        for (name, function) in cases {
            let result = checkGradients(of: [x, bias], step: 1e-2, function)
            XCTAssertLessThan(result.maximumRelativeError, 1e-2, "\(name): worst \(result.worst)")
        }
    }

    func testCrossEntropyMatchesHandComputation() {
        // Row 0: logits [0, ln 3] with label 1: -log(3/4). Row 1: [1000, 0] with label 0: ~0.
        let logits = Tensor([0, log(3), 1000, 0], shape: [2, 2], requiresGradient: true)
        let loss = crossEntropy(logits: logits, labels: [1, 0])
        XCTAssertEqual(Double(loss.item), -log(0.75) / 2, accuracy: 1e-6)
        loss.backward()
        // Gradient is (softmax - onehot) / N.
        let expected: [Float] = [0.25 / 2, -0.25 / 2, 0, 0]
        for (actual, wanted) in zip(logits.grad!.scalars, expected) {
            XCTAssertEqual(actual, wanted, accuracy: 1e-6)
        }
    }

    func testCrossEntropyGradientMatchesFiniteDifferences() {
        var generator = RandomGenerator(seed: 2)
        let logits = Tensor.randomNormal([3, 5], generator: &generator)
        let result = checkGradients(of: [logits]) { crossEntropy(logits: $0[0], labels: [4, 0, 2]) }
        XCTAssertLessThan(result.maximumRelativeError, 1e-2, "worst \(result.worst)")
    }

    func testDropoutKeepsExpectedFractionAndScales() {
        var generator = RandomGenerator(seed: 3)
        let x = Tensor(repeating: 1, shape: [10_000])
        let y = dropout(x, probability: 0.25, training: true, generator: &generator)
        let kept = y.scalars.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 10_000, 0.75, accuracy: 0.02)
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        let evaluated = dropout(x, probability: 0.25, training: false, generator: &generator)
        XCTAssertTrue(evaluated === x)
    }

    func testRandomGeneratorIsReproducible() {
        var first = RandomGenerator(seed: 42)
        var second = RandomGenerator(seed: 42)
        XCTAssertEqual((0..<5).map { _ in first.next() }, (0..<5).map { _ in second.next() })
        var normal = RandomGenerator(seed: 7)
        let samples = (0..<20_000).map { _ in normal.nextNormal() }
        let average = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.map { ($0 - average) * ($0 - average) }.reduce(0, +) / Double(samples.count)
        XCTAssertEqual(average, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.04)
    }
}
