import XCTest

@testable import NeuralNetworks
@testable import Tensors

/// Batch norm and ReLU modules fuse only where nothing observes them, and give the same values
/// either way.
final class LayerFusionTests: XCTestCase {
    private func input(seed: UInt64) -> Tensor {
        var generator = RandomGenerator(seed: seed)
        return Tensor.randomNormal([4, 3, 5, 5], generator: &generator)
    }

    func testSequentialBatchNormReLUMatchesSeparateModules() {
        let x = input(seed: 1)
        let fused = Sequential([BatchNorm2d(features: 3), ReLU()])(x)
        let separate = ReLU()(BatchNorm2d(features: 3)(x))
        XCTAssertEqual(fused.scalars, separate.scalars)
        XCTAssertTrue(fused.scalars.contains(0))
    }

    func testObservedReLUStillSeesItsInputAndOutput() {
        let x = input(seed: 2)
        let normalization = BatchNorm2d(features: 3)
        let relu = ReLU()
        var observed: [(input: [Float], output: [Float])] = []
        relu.forwardObserver = { _, input, output in
            observed.append((input.scalars, output.scalars))
        }

        let output = normalization(x, then: relu)

        XCTAssertEqual(observed.count, 1)
        let normalized = BatchNorm2d(features: 3)(x)
        XCTAssertEqual(observed.first?.input, normalized.scalars, "the observer sees the normalised values before the ReLU")
        XCTAssertEqual(observed.first?.output, output.scalars)
    }

    func testObservedBatchNormStillSeesItsOutput() {
        let x = input(seed: 3)
        let normalization = BatchNorm2d(features: 3)
        var outputs: [[Float]] = []
        normalization.forwardObserver = { _, _, output in
            outputs.append(output.scalars)
        }

        _ = normalization(x, then: ReLU())

        XCTAssertEqual(outputs, [BatchNorm2d(features: 3)(x).scalars])
    }

    func testReLUOfSumFallsBackWhenObserved() {
        let a = input(seed: 4)
        let b = input(seed: 5)
        let relu = ReLU()
        var inputs: [[Float]] = []
        relu.forwardObserver = { _, input, _ in
            inputs.append(input.scalars)
        }

        let observedOutput = relu(sum: a, b)
        let fusedOutput = ReLU()(sum: a, b)

        XCTAssertEqual(inputs, [(a + b).scalars])
        XCTAssertEqual(observedOutput.scalars, fusedOutput.scalars)
    }
}
