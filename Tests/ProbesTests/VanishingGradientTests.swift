import Foundation
import NeuralNetworks
import Probes
import Tensors
import XCTest

/// The classical vanishing-gradient bound in a sigmoid MLP: since σ' ≤ 1/4,
/// ‖grad_output of layer i‖ ≤ 1/4 · ‖W_{i+1}‖₂ · ‖grad_output of layer i+1‖.
final class VanishingGradientTests: XCTestCase {
    /// The largest singular value of a `[rows, columns]` matrix by power iteration on WᵀW, in double precision.
    private func spectralNorm(_ weight: Tensor) -> Double {
        let rows = weight.shape[0]
        let columns = weight.shape[1]
        let w = weight.scalars.map(Double.init)
        var v = [Double](repeating: 1, count: columns)
        var estimate = 0.0
        for _ in 0..<500 {
            var u = [Double](repeating: 0, count: rows)
            for r in 0..<rows {
                for c in 0..<columns {
                    u[r] += w[r * columns + c] * v[c]
                }
            }
            var next = [Double](repeating: 0, count: columns)
            for r in 0..<rows {
                for c in 0..<columns {
                    next[c] += w[r * columns + c] * u[r]
                }
            }
            let norm = next.map { $0 * $0 }.reduce(0, +).squareRoot()
            estimate = norm.squareRoot()
            v = next.map { $0 / norm }
        }
        return estimate
    }

    func testSigmoidMLPGradientDecayBound() throws {
        var generator = RandomGenerator(seed: 11)
        let depth = 8
        let model = MLP(inputSize: 12, depth: depth, width: 24, activation: .sigmoid, numClasses: 5, generator: &generator)
        let targets = try ProbeSelection.resolve(["all-linear"], in: model)
        XCTAssertEqual(targets.count, depth)
        let probes = ProbeSet(model: model, targets: targets)

        let input = Tensor.randomNormal([16, 12], generator: &generator)
        let labels = (0..<16).map { $0 % 5 }
        crossEntropy(logits: model(input), labels: labels).backward()
        probes.collectGradientMetrics()
        probes.collectParameterMetrics(from: nil)
        let records = probes.takeRecords()

        for index in 0..<(depth - 1) {
            let next = model.module(at: "layers.\(2 * (index + 1))") as! Linear
            let bound = 0.25 * spectralNorm(next.weight) * records[index + 1][.gradOutputL2]
            XCTAssertLessThanOrEqual(records[index][.gradOutputL2], bound * (1 + 1e-5), "layers.\(2 * index)")
            // The backward pass through a linear layer scales by at most its spectral norm.
            XCTAssertLessThanOrEqual(records[index + 1][.gradInputL2], spectralNorm(next.weight) * records[index + 1][.gradOutputL2] * (1 + 1e-5))
        }
        // Eight sigmoid layers make the first layer's gradient far smaller than the last's.
        XCTAssertLessThan(records[0][.gradOutputRMS], 1e-2 * records[depth - 1][.gradOutputRMS])
    }

    func testAdamTrainsToyProblem() throws {
        // Two classes: the sign of x0 + x1, which a small MLP learns quickly.
        var generator = RandomGenerator(seed: 4)
        let model = MLP(inputSize: 2, depth: 3, width: 16, activation: .tanh, numClasses: 2, generator: &generator)
        let adam = Adam(parameters: model.namedParameters(), learningRate: 1e-2)
        let input = Tensor.randomNormal([128, 2], generator: &generator)
        let labels = (0..<128).map { input[$0, 0] + input[$0, 1] > 0 ? 1 : 0 }

        var first = 0.0
        var last = 0.0
        for step in 0..<150 {
            model.zeroGradients()
            let loss = crossEntropy(logits: model(input), labels: labels)
            if step == 0 {
                first = Double(loss.item)
            }
            last = Double(loss.item)
            loss.backward()
            adam.step()
        }
        XCTAssertGreaterThan(first, 0.5, "an untrained two-class model starts near ln 2")
        XCTAssertLessThan(last, 0.1, "Adam should fit a linearly separable problem")
    }
}
