import Foundation
import NeuralNetworks
import Tensors
import TestSupport
import XCTest

/// Compares every state-dict name and shape with torchvision 0.28's, as listed in
/// Tests/Fixtures/models/*.txt (written by make_state_dict_shapes.py in that folder).
final class ModelStructureTests: XCTestCase {
    private func torchvisionStateDict(_ name: String) throws -> (parameters: Int, entries: [(String, [Int])]) {
        let text = try String(contentsOf: Fixtures.url("models/\(name).txt"), encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        let header = lines.removeFirst()
        let count = Int(header.split(separator: ":").last!.split(separator: " ").first!)!
        let entries = lines.map { line -> (String, [Int]) in
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            let shape = parts.count > 1 && !parts[1].isEmpty ? parts[1].split(separator: ",").map { Int($0)! } : []
            return (String(parts[0]), shape)
        }
        return (count, entries)
    }

    private func assertMatchesTorchvision(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var generator = RandomGenerator(seed: 0)
        let model = try ModelCatalog.makeModel(ModelSpecification(name: name, numClasses: 10), generator: &generator)
        let expected = try torchvisionStateDict(name)

        XCTAssertEqual(model.parameterCount, expected.parameters, "\(name) parameter count", file: file, line: line)
        let actual = model.stateDict().map { ($0.name, $0.tensor.shape) }
        XCTAssertEqual(actual.map(\.0), expected.entries.map(\.0), "\(name) state-dict names", file: file, line: line)
        for ((actualName, actualShape), (_, expectedShape)) in zip(actual, expected.entries) where actualShape != expectedShape {
            XCTFail("\(name): \(actualName) has shape \(actualShape), torchvision has \(expectedShape)", file: file, line: line)
        }
    }

    func testVGGFamilyMatchesTorchvision() throws {
        for name in ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"] {
            try assertMatchesTorchvision(name)
        }
    }

    func testResNetFamilyMatchesTorchvision() throws {
        for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] {
            try assertMatchesTorchvision(name)
        }
    }

    func testStatedParameterCounts() throws {
        var generator = RandomGenerator(seed: 0)
        let vgg = try ModelCatalog.makeModel(ModelSpecification(name: "vgg19", numClasses: 10), generator: &generator)
        XCTAssertEqual(vgg.parameterCount, 139_611_210)
        let resnet = try ModelCatalog.makeModel(ModelSpecification(name: "resnet50", numClasses: 10), generator: &generator)
        XCTAssertEqual(resnet.parameterCount, 23_528_522)
    }

    func testVGGPathsOfOriginalProbes() throws {
        var generator = RandomGenerator(seed: 0)
        let vgg = VGG(depth: .vgg19, numClasses: 10, generator: &generator)
        XCTAssertTrue(vgg.module(at: "features.0") is Conv2d)
        XCTAssertTrue(vgg.module(at: "features[10]") is Conv2d)
        XCTAssertTrue(vgg.module(at: "features.28") is Conv2d)
        XCTAssertTrue(vgg.module(at: "classifier[0]") is Linear)
        XCTAssertEqual((vgg.module(at: "classifier.6") as? Linear)?.outFeatures, 10)
        XCTAssertNil(vgg.module(at: "features.99"))
    }

    func testResNetWithoutSkipHasNoShortcuts() throws {
        var generator = RandomGenerator(seed: 0)
        let plain = ResNet(depth: .resnet50, numClasses: 10, skipConnections: false, generator: &generator)
        let paths = plain.namedModules().map(\.path)
        XCTAssertFalse(paths.contains { $0.contains("downsample") })
        XCTAssertNotNil(plain.module(at: "layer3.2.conv1"))
        // ResNet-50 without its four downsample shortcuts (conv + batch norm each).
        let shortcuts = (64 * 256 + 2 * 256) + (256 * 512 + 2 * 512) + (512 * 1024 + 2 * 1024) + (1024 * 2048 + 2 * 2048)
        XCTAssertEqual(plain.parameterCount, 23_528_522 - shortcuts)
    }

    func testVGGInitialisationFollowsTorchvision() throws {
        var generator = RandomGenerator(seed: 5)
        let vgg = VGG(depth: .vgg11, numClasses: 10, generator: &generator)
        // Kaiming normal, fan-out: std = sqrt(2 / (out · 3 · 3)) for features.3 (128 outputs).
        let conv = vgg.module(at: "features.3") as! Conv2d
        XCTAssertEqual(standardDeviation(conv.weight), (2.0 / (128.0 * 9)).squareRoot(), accuracy: 0.002)
        XCTAssertTrue(conv.bias!.scalars.allSatisfy { $0 == 0 })
        let linear = vgg.module(at: "classifier.3") as! Linear
        XCTAssertEqual(standardDeviation(linear.weight), 0.01, accuracy: 0.0002)
    }

    func testMLPLayout() {
        var generator = RandomGenerator(seed: 0)
        let mlp = MLP(inputSize: 12, depth: 3, width: 5, activation: .tanh, numClasses: 4, generator: &generator)
        XCTAssertEqual(mlp.namedParameters().map(\.name), [
            "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias",
        ])
        XCTAssertTrue(mlp.module(at: "layers.1") is Tanh)
        // PyTorch's default bound for the first layer is 1/sqrt(12).
        let weight = (mlp.module(at: "layers.0") as! Linear).weight.scalars
        XCTAssertLessThanOrEqual(weight.map(abs).max()!, Float(1 / 12.0.squareRoot()))
    }

    func testUnknownModelNameListsChoices() {
        var generator = RandomGenerator(seed: 0)
        XCTAssertThrowsError(try ModelCatalog.makeModel(ModelSpecification(name: "vgg20"), generator: &generator)) { error in
            XCTAssertTrue("\(error)".contains("unknown model 'vgg20'"), "\(error)")
            XCTAssertTrue("\(error)".contains("resnet50"), "\(error)")
        }
    }

    func testLoadStateDictReportsEveryMismatch() throws {
        var generator = RandomGenerator(seed: 0)
        let model = MLP(inputSize: 4, depth: 2, width: 3, activation: .relu, numClasses: 2, generator: &generator)
        let entries: [String: Tensor] = [
            "layers.0.weight": Tensor(zeros: [3, 4]),
            "layers.0.bias": Tensor(zeros: [5]),
            "layers.2.weight": Tensor(zeros: [2, 3]),
            "extra.weight": Tensor(zeros: [1]),
        ]
        XCTAssertThrowsError(try model.loadStateDict(entries)) { error in
            let mismatch = error as! StateDictMismatch
            XCTAssertEqual(mismatch.missing, ["layers.2.bias"])
            XCTAssertEqual(mismatch.unexpected, ["extra.weight"])
            XCTAssertEqual(mismatch.wrongShape.map(\.name), ["layers.0.bias"])
        }
        // Strict loading copies nothing when anything mismatches.
        XCTAssertNotEqual((model.module(at: "layers.0") as! Linear).weight.scalars, Array(repeating: 0, count: 12))
    }

    private func standardDeviation(_ tensor: Tensor) -> Double {
        let values = tensor.scalars.map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
    }
}
