import Checkpoints
import Foundation
import NeuralNetworks
import Tensors
import TestSupport
import Training
import XCTest

/// Loading pretrained weights with the fine-tuning head rule, on the PyTorch-made mini VGG.
final class WeightLoaderTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gradscope-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func miniVGG(classes: Int) -> VGG {
        var generator = RandomGenerator(seed: 9)
        return VGG(configuration: [.convolution(8), .maxPool, .convolution(16), .maxPool, .convolution(32), .convolution(32), .maxPool],
                   numClasses: classes, poolSize: 1, hiddenWidth: 64, dropout: 0, generator: &generator)
    }

    /// The fixture's state dict alone (without its input batch), written as a `.safetensors` file.
    private func fixtureWeights(replacing replacements: [String: Tensor] = [:]) throws -> (URL, [String: Tensor]) {
        let archive = try loadTensorArchive(at: Fixtures.url("fixture_mini_vgg.safetensors"))
        var entries: [(String, Tensor)] = []
        for (name, tensor) in try archive.floatTensors() where name != "input" && name != "labels" {
            entries.append((name, replacements[name] ?? tensor))
        }
        let url = scratch.appendingPathComponent("weights.safetensors")
        try saveSafetensors(entries, metadata: [:], to: url)
        return (url, Dictionary(uniqueKeysWithValues: entries))
    }

    func testDifferentHeadKeepsFreshInitialisation() throws {
        let (url, file) = try fixtureWeights()
        let model = miniVGG(classes: 4)
        let freshHead = (model.module(at: "classifier.6") as! Linear).weight.copy()

        let report = try WeightLoader.load(url, into: model, specification: ModelSpecification(name: "vgg11", numClasses: 4))

        XCTAssertTrue(report.notices.contains { $0.contains("except the head classifier.6 (the file has 10 classes, the model 4)") }, "\(report.notices)")
        XCTAssertEqual((model.module(at: "classifier.6") as! Linear).weight.scalars, freshHead.scalars)
        XCTAssertEqual((model.module(at: "features.0") as! Conv2d).weight.scalars, file["features.0.weight"]!.scalars)
        XCTAssertEqual((model.module(at: "classifier.3") as! Linear).bias!.scalars, file["classifier.3.bias"]!.scalars)
    }

    func testMatchingHeadIsLoadedToo() throws {
        let (url, file) = try fixtureWeights()
        let model = miniVGG(classes: 10)
        _ = try WeightLoader.load(url, into: model, specification: ModelSpecification(name: "vgg11", numClasses: 10))
        XCTAssertEqual((model.module(at: "classifier.6") as! Linear).weight.scalars, file["classifier.6.weight"]!.scalars)
    }

    func testOtherMismatchListsNamesAndShapes() throws {
        let (url, _) = try fixtureWeights(replacing: ["features.3.weight": Tensor(zeros: [16, 8, 5, 5])])
        let model = miniVGG(classes: 10)
        XCTAssertThrowsError(try WeightLoader.load(url, into: model, specification: ModelSpecification(name: "vgg11", numClasses: 10))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("weights.safetensors does not fit the model"), text)
            XCTAssertTrue(text.contains("wrong shape: features.3.weight is [16, 8, 5, 5] in the file, the model needs [16, 8, 3, 3]"), text)
        }
    }

    func testPthAndSafetensorsGiveSameWeights() throws {
        let fromPth = miniVGG(classes: 10)
        _ = try WeightLoader.load(Fixtures.url("fixture_mini_vgg.pth"), into: fromPth, specification: ModelSpecification(name: "vgg11", numClasses: 10))
        let (url, _) = try fixtureWeights()
        let fromSafetensors = miniVGG(classes: 10)
        _ = try WeightLoader.load(url, into: fromSafetensors, specification: ModelSpecification(name: "vgg11", numClasses: 10))
        for ((name, a), (_, b)) in zip(fromPth.stateDict(), fromSafetensors.stateDict()) {
            XCTAssertEqual(a.scalars, b.scalars, name)
        }
    }
}
