import Foundation
import NeuralNetworks
import Tensors
import XCTest

final class OptimizerTests: XCTestCase {
    func testAdamMatchesClosedFormOverTwoSteps() {
        let parameter = Tensor([1, -2], shape: [2], requiresGradient: true)
        let adam = Adam(parameters: [("p", parameter)], learningRate: 0.1, weightDecay: 0.5)

        // Step 1 with g = [0.5, 0.5] plus L2 decay 0.5·p: d = [1, -0.5].
        parameter.grad = Tensor([0.5, 0.5], shape: [2])
        adam.step()
        // After one step Adam moves each element by lr·d/(|d| + eps) = lr·sign(d).
        XCTAssertEqual(parameter.scalars[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(parameter.scalars[1], -1.9, accuracy: 1e-6)

        // Step 2 by hand for element 0: p = 0.9, g = 0.2, d = 0.2 + 0.45 = 0.65.
        parameter.grad = Tensor([0.2, 0.0], shape: [2])
        adam.step()
        let m = 0.9 * 0.1 * 1 + 0.1 * 0.65
        let v = 0.999 * 0.001 * 1 + 0.001 * 0.65 * 0.65
        let expected = 0.9 - 0.1 / (1 - 0.81) * m / ((v / (1 - 0.999 * 0.999)).squareRoot() + 1e-8)
        XCTAssertEqual(Double(parameter.scalars[0]), expected, accuracy: 1e-6)
    }

    func testAdamWDecaysBeforeTheUpdate() {
        let parameter = Tensor([2], shape: [1], requiresGradient: true)
        let adamW = Adam.adamW(parameters: [("p", parameter)], learningRate: 0.1, weightDecay: 0.5)
        parameter.grad = Tensor([3], shape: [1])
        adamW.step()
        // p·(1 − lr·wd) − lr·sign(g) = 2·0.95 − 0.1.
        XCTAssertEqual(parameter.scalars[0], 1.8, accuracy: 1e-6)
    }

    func testAMSGradUsesMaximumSecondMoment() {
        let parameter = Tensor([0], shape: [1], requiresGradient: true)
        let adam = Adam(parameters: [("p", parameter)], learningRate: 0.1, amsgrad: true)
        parameter.grad = Tensor([1], shape: [1])
        adam.step()
        parameter.grad = Tensor([0], shape: [1])
        adam.step()
        // m = 0.09, v = 0.000999, v_max = 0.001 (from step 1).
        let expected = -0.1 - 0.1 / (1 - 0.81) * 0.09 / ((0.001 / (1 - 0.999 * 0.999)).squareRoot() + 1e-8)
        XCTAssertEqual(Double(parameter.scalars[0]), expected, accuracy: 1e-6)
    }

    func testSGDMomentumDampeningNesterov() {
        let plain = Tensor([1], shape: [1], requiresGradient: true)
        let momentum = SGD(parameters: [("p", plain)], learningRate: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.1)
        plain.grad = Tensor([1], shape: [1])
        momentum.step()
        // d = 1 + 0.1·1 = 1.1; first buffer = d; p = 1 − 0.11.
        XCTAssertEqual(plain.scalars[0], 0.89, accuracy: 1e-6)
        plain.grad = Tensor([1], shape: [1])
        momentum.step()
        // d = 1 + 0.089 = 1.089; buffer = 0.9·1.1 + 0.5·1.089 = 1.5345; p = 0.89 − 0.15345.
        XCTAssertEqual(plain.scalars[0], 0.73655, accuracy: 1e-6)

        let ahead = Tensor([1], shape: [1], requiresGradient: true)
        let nesterov = SGD(parameters: [("p", ahead)], learningRate: 0.1, momentum: 0.9, nesterov: true)
        ahead.grad = Tensor([1], shape: [1])
        nesterov.step()
        // buffer = 1; step direction = 1 + 0.9·1.
        XCTAssertEqual(ahead.scalars[0], 0.81, accuracy: 1e-6)
    }

    /// The vector loops (split across threads, 8 lanes, a scalar tail) against the update rule
    /// evaluated per element in double precision, over two steps, with and without each kind of
    /// weight decay, and with the tracked norms.
    func testVectorLoopsMatchUpdateRule() {
        let count = 131_075  // two chunks of whole 8-lane groups and a tail of 3
        var generator = RandomGenerator(seed: 8)
        let start = Tensor.randomNormal([count], generator: &generator).scalars
        let gradients = [Tensor.randomNormal([count], generator: &generator).scalars, Tensor.randomNormal([count], generator: &generator).scalars]

        for (weightDecay, decoupled) in [(0.0, false), (0.1, false), (0.1, true)] as [(Double, Bool)] {
            let parameter = Tensor(start, shape: [count], requiresGradient: true)
            let adam = Adam(
                parameters: [("p", parameter)], learningRate: 0.01, weightDecay: Float(weightDecay),
                decoupledWeightDecay: decoupled)
            adam.trackedUpdateNames = ["p"]

            var p = start.map(Double.init)
            var m = [Double](repeating: 0, count: count)
            var v = [Double](repeating: 0, count: count)
            for (index, gradient) in gradients.enumerated() {
                let before = p
                let t = Double(index + 1)
                for i in 0..<count {
                    var d = Double(gradient[i])
                    if decoupled {
                        p[i] *= 1 - 0.01 * weightDecay
                    } else {
                        d += weightDecay * p[i]
                    }
                    m[i] = 0.9 * m[i] + 0.1 * d
                    v[i] = 0.999 * v[i] + 0.001 * d * d
                    p[i] -= 0.01 / (1 - pow(0.9, t)) * m[i] / ((v[i] / (1 - pow(0.999, t))).squareRoot() + 1e-8)
                }
                parameter.grad = Tensor(gradient, shape: [count])
                adam.step()

                let context = "weight decay \(weightDecay), decoupled \(decoupled), step \(index + 1)"
                let actual = parameter.scalars
                var largest = 0.0
                for i in 0..<count {
                    largest = max(largest, abs(Double(actual[i]) - p[i]))
                }
                XCTAssertLessThan(largest, 1e-5, context)

                let statistics = adam.lastStepStatistics["p"]
                let weightNorm = before.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let updateNorm = zip(p, before).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                XCTAssertEqual(statistics?.weightNorm ?? 0, weightNorm, accuracy: weightNorm * 1e-5, context)
                XCTAssertEqual(statistics?.updateNorm ?? 0, updateNorm, accuracy: updateNorm * 1e-3, context)
            }
        }
    }

    /// Gradients of about 1e-20 have subnormal squares. An untracked parameter's update runs
    /// with subnormals flushed, a tracked one's does not: the weights must agree bit for bit
    /// with each other and with the update rule, while only the tracked second moment keeps the
    /// subnormal values.
    func testFlushedSubnormalsLeaveTheWeightsUnchanged() {
        let count = 40_003  // two chunks and a scalar tail
        var generator = RandomGenerator(seed: 11)
        let start = Tensor.randomNormal([count], generator: &generator).scalars
        let gradients = (0..<3).map { _ in Tensor.randomNormal([count], generator: &generator).scalars.map { $0 * 1e-20 } }

        let (flushed, exact, adam) = Self.stepTwins(start: start, gradients: gradients, epsilon: 1e-8)
        var p = start.map(Double.init)
        var m = [Double](repeating: 0, count: count)
        var v = [Double](repeating: 0, count: count)
        for (index, gradient) in gradients.enumerated() {
            let t = Double(index + 1)
            for i in 0..<count {
                let d = Double(gradient[i])
                m[i] = 0.9 * m[i] + 0.1 * d
                v[i] = 0.999 * v[i] + 0.001 * d * d
                p[i] -= 0.01 / (1 - pow(0.9, t)) * m[i] / ((v[i] / (1 - pow(0.999, t))).squareRoot() + 1e-8)
            }
        }

        let differing = zip(flushed.scalars, exact.scalars).filter { $0.0.bitPattern != $0.1.bitPattern }.count
        XCTAssertEqual(differing, 0, "weights that differ between the flushed and the exact update")
        let largest = zip(exact.scalars, p).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(largest, 1e-5)
        let (flushedMoment, exactMoment) = Self.secondMoments(adam)
        XCTAssertGreaterThan(exactMoment.filter(\.isSubnormal).count, 0, "the exact update keeps subnormals")
        XCTAssertEqual(flushedMoment.filter(\.isSubnormal).count, 0, "the untracked update flushes them")
    }

    /// With `epsilon` 0 a subnormal second moment decides the denominator, so nothing flushes.
    func testZeroEpsilonKeepsSubnormals() {
        let start: [Float] = Array(repeating: 1, count: 40_000)
        let gradients = [start.map { $0 * 1e-20 }]
        let (_, _, adam) = Self.stepTwins(start: start, gradients: gradients, epsilon: 0)
        let (flushedMoment, exactMoment) = Self.secondMoments(adam)
        XCTAssertEqual(exactMoment.filter(\.isSubnormal).count, 40_000)
        XCTAssertEqual(flushedMoment, exactMoment)
    }

    /// Steps an untracked parameter, "flushed", and a tracked twin, "exact", through `gradients`.
    private static func stepTwins(start: [Float], gradients: [[Float]], epsilon: Float) -> (flushed: Tensor, exact: Tensor, adam: Adam) {
        let flushed = Tensor(start, shape: [start.count], requiresGradient: true)
        let exact = Tensor(start, shape: [start.count], requiresGradient: true)
        let adam = Adam(parameters: [("flushed", flushed), ("exact", exact)], learningRate: 0.01, epsilon: epsilon)
        adam.trackedUpdateNames = ["exact"]
        for gradient in gradients {
            flushed.grad = Tensor(gradient, shape: [start.count])
            exact.grad = Tensor(gradient, shape: [start.count])
            adam.step()
        }
        return (flushed, exact, adam)
    }

    /// Returns the second moments of the twins that `stepTwins` stepped.
    private static func secondMoments(_ adam: Adam) -> (flushed: [Float], exact: [Float]) {
        let state = Dictionary(uniqueKeysWithValues: adam.stateTensors().map { ($0.name, $0.tensor.scalars) })
        return (state["exp_avg_sq.flushed"]!, state["exp_avg_sq.exact"]!)
    }

    func testUpdateNormIsRecordedForTrackedParameters() {
        let parameter = Tensor([0, 0, 0], shape: [3], requiresGradient: true)
        let sgd = SGD(parameters: [("p", parameter)], learningRate: 1)
        sgd.trackedUpdateNames = ["p"]
        parameter.grad = Tensor([3, 4, 0], shape: [3])
        sgd.step()
        XCTAssertEqual(sgd.lastUpdateNorms["p"]!, 5, accuracy: 1e-9)
    }

    func testOptimizerStateRoundTrip() throws {
        let parameter = Tensor([1, 2], shape: [2], requiresGradient: true)
        let first = Adam(parameters: [("p", parameter)], learningRate: 0.01)
        parameter.grad = Tensor([0.3, -0.1], shape: [2])
        first.step()
        let saved = Dictionary(uniqueKeysWithValues: first.stateTensors().map { ($0.name, $0.tensor.copy()) })

        let twin = parameter.copy()
        twin.requiresGradient = true
        let second = Adam(parameters: [("p", twin)], learningRate: 0.01)
        try second.loadStateTensors(saved)
        XCTAssertEqual(second.stepCount, 1)

        parameter.grad = Tensor([0.5, 0.5], shape: [2])
        twin.grad = Tensor([0.5, 0.5], shape: [2])
        first.step()
        second.step()
        XCTAssertEqual(parameter.scalars, twin.scalars)
    }
}
