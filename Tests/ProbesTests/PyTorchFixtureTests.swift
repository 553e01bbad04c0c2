import Checkpoints
import Foundation
import NeuralNetworks
import Probes
import Tensors
import TestSupport
import XCTest

/// One forward, backward and Adam step on the PyTorch-made fixtures (a small torchvision VGG and
/// ResNet, their weights and a fixed batch), compared with the values PyTorch recorded.
/// Tolerance: 1e-4 relative, as reduction order alone moves float32 results by about 1e-6.
final class PyTorchFixtureTests: XCTestCase {
    private let tolerance = 1e-4

    private struct Fixture {
        let expected: [String: Any]
        let model: Module
        let input: Tensor
        let labels: [Int]
    }

    private func loadFixture(_ name: String, model: Module) throws -> Fixture {
        let archive = try loadTensorArchive(at: Fixtures.url("fixture_\(name).safetensors"))
        var entries: [String: Tensor] = [:]
        for (key, tensor) in try archive.floatTensors() {
            entries[key] = tensor
        }
        let input = entries.removeValue(forKey: "input")!
        let labels = archive["labels"]!.integerValues()!.map { Int($0) }
        entries.removeValue(forKey: "labels")
        try model.loadStateDict(entries)
        return Fixture(expected: try Fixtures.json("fixture_\(name).json"), model: model, input: input, labels: labels)
    }

    private func assertClose(_ actual: Double, _ expected: Double, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let scale = max(abs(expected), 1e-30)
        XCTAssertLessThanOrEqual(abs(actual - expected) / scale, tolerance, "\(message): \(actual) vs PyTorch \(expected)", file: file, line: line)
    }

    private func norm(_ tensor: Tensor) -> Double {
        TensorStatistics(of: tensor).l2
    }

    /// Runs the fixture's procedure and checks every recorded quantity.
    private func checkAgainstPyTorch(_ fixture: Fixture) throws {
        let model = fixture.model
        model.setTraining(true)
        let targets = try ProbeSelection.resolve(["all"], in: model)
        let probes = ProbeSet(model: model, targets: targets)
        let parameters = model.namedParameters()
        let before = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.tensor.copy()) })
        let adam = Adam(parameters: parameters, learningRate: 1e-3)
        adam.trackedUpdateNames = Set(parameters.map(\.name))

        let logits = model(fixture.input)
        let loss = crossEntropy(logits: logits, labels: fixture.labels)
        loss.backward()
        probes.collectGradientMetrics()
        probes.collectParameterMetrics(from: nil)

        let expectedLoss = (fixture.expected["loss"] as! [String: Any])["value"] as! Double
        assertClose(Double(loss.item), expectedLoss, "loss")
        // Element-wise: 1e-4 relative plus a floor of 1e-4 of the largest logit, because a logit
        // near zero is a difference of larger terms and carries their rounding.
        let expectedLogits = (fixture.expected["logits"] as! [[Double]]).flatMap { $0 }
        let largest = expectedLogits.map(abs).max()!
        XCTAssertEqual(logits.count, expectedLogits.count)
        for (index, (actual, expected)) in zip(logits.scalars, expectedLogits).enumerated() {
            XCTAssertEqual(Double(actual), expected, accuracy: 1e-4 * (abs(expected) + largest), "logit \(index)")
        }

        let modules = fixture.expected["modules"] as! [String: [String: Any]]
        let records = probes.takeRecords()
        XCTAssertEqual(Set(records.map(\.path)), Set(modules.keys), "probed layers")
        for record in records {
            let expected = modules[record.path]!
            assertClose(record[.gradOutputL2], expected["grad_output_norm"] as! Double, "\(record.path) grad_output_l2")
            if let gradInput = expected["grad_input_norm"] as? Double {
                assertClose(record[.gradInputL2], gradInput, "\(record.path) grad_input_l2")
            } else {
                XCTAssertTrue(record[.gradInputL2].isNaN, "\(record.path) has no input gradient in PyTorch")
            }
        }

        let expectedParameters = fixture.expected["params"] as! [String: [String: Any]]
        XCTAssertEqual(Set(parameters.map(\.name)), Set(expectedParameters.keys), "parameter names")
        for (name, parameter) in parameters {
            let expected = expectedParameters[name]!
            let gradientNorm = expected["grad_norm"] as! Double
            assertClose(norm(parameter.grad!), gradientNorm, "\(name) gradient norm")
            if let record = records.first(where: { "\($0.path).weight" == name }) {
                assertClose(record[.weightGradL2], gradientNorm, "\(name) weight_grad_l2 probe")
            }
        }

        let buffers = fixture.expected["buffers"] as? [String: [String: Any]] ?? [:]
        let ownBuffers = Dictionary(uniqueKeysWithValues: model.namedBuffers().map { ($0.name, $0.tensor) })
        for (name, expected) in buffers {
            guard let values = expected["after_forward"] as? [Double] else {
                continue
            }
            let actual = ownBuffers[name]!.scalars
            for (index, (value, wanted)) in zip(actual, values).enumerated() {
                XCTAssertEqual(Double(value), wanted, accuracy: 1e-4 * abs(wanted) + 1e-7, "\(name)[\(index)] after forward")
            }
        }

        adam.step()
        probes.collectParameterMetrics(from: adam)
        for record in probes.takeRecords() {
            let expected = expectedParameters["\(record.path).weight"]!
            // The optimizer's own pass over the weight supplies these after the step.
            assertClose(record[.weightGradL2], expected["grad_norm"] as! Double, "\(record.path) weight_grad_l2 from Adam")
            assertClose(record[.weightL2], expected["norm_before"] as! Double, "\(record.path) weight_l2 from Adam")
            let ratio = (expected["adam_update_norm"] as! Double) / (expected["norm_before"] as! Double)
            assertClose(record[.updateRatio], ratio, "\(record.path) update_ratio")
        }
        for (name, parameter) in parameters {
            let expected = expectedParameters[name]!
            assertClose(norm(parameter), expected["norm_after_adam"] as! Double, "\(name) norm after Adam")
            let updateNorm = expected["adam_update_norm"] as! Double
            if updateNorm > 0 {
                var change = parameter.copy()
                change = change.adding(before[name]! * -1)
                assertClose(norm(change), updateNorm, "\(name) Adam update norm")
                assertClose(adam.lastUpdateNorms[name]!, updateNorm, "\(name) recorded update norm")
            }
        }
    }

    func testMiniVGGMatchesPyTorch() throws {
        var generator = RandomGenerator(seed: 0)
        let model = VGG(configuration: [.convolution(8), .maxPool, .convolution(16), .maxPool, .convolution(32), .convolution(32), .maxPool],
                        numClasses: 10, poolSize: 1, hiddenWidth: 64, dropout: 0, generator: &generator)
        try checkAgainstPyTorch(try loadFixture("mini_vgg", model: model))
    }

    func testMiniResNetMatchesPyTorch() throws {
        var generator = RandomGenerator(seed: 0)
        let model = ResNet(bottleneck: false, blocksPerStage: [1, 1, 1, 1], widths: [8, 16, 32, 64], numClasses: 10, generator: &generator)
        try checkAgainstPyTorch(try loadFixture("mini_resnet", model: model))
    }

    func testFixtureWeightsLoadFromPthToo() throws {
        let pth = try loadTensorArchive(at: Fixtures.url("fixture_mini_vgg.pth"))
        let safetensors = try loadTensorArchive(at: Fixtures.url("fixture_mini_vgg.safetensors"))
        for name in pth.names {
            XCTAssertEqual(try pth[name]!.floatTensor().scalars, try safetensors[name]!.floatTensor().scalars, name)
        }
    }
}
