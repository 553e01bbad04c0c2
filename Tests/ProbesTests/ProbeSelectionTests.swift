import NeuralNetworks
import Probes
import Tensors
import XCTest

/// The `vgg-blocks` request against layer indices worked out by hand from torchvision's layer
/// lists (a convolution, its optional batch norm and ReLU per entry, a max pooling per "M").
final class ProbeSelectionTests: XCTestCase {
    private func targets(_ name: String) throws -> [ProbeTarget] {
        var generator = RandomGenerator(seed: 1)
        let model = try ModelCatalog.makeModel(ModelSpecification(name: name, numClasses: 10), generator: &generator)
        return try ProbeSelection.resolve([ProbeSelection.vggBlocksRequest], in: model)
    }

    func testVGGBlocksMatchOriginalProbesInVGG19() throws {
        let expected = ProbeSelection.originalVGGProbes.map { request -> ProbeTarget in
            let parts = request.split(separator: "=").map(String.init)
            return ProbeTarget(path: parts[0], name: parts[1])
        }
        XCTAssertEqual(try targets("vgg19"), expected)
    }

    func testVGGBlocksInOtherVGGs() throws {
        // VGG11: 64 M 128 M 256 256 M 512 512 M 512 512 M, two modules per convolution.
        XCTAssertEqual(try targets("vgg11").map(\.path), ["features.0", "features.6", "features.16", "classifier.0"])
        // VGG19 with batch norm: three modules per convolution, blocks of 2, 2, 4, 4 and 4.
        XCTAssertEqual(try targets("vgg19_bn").map(\.path), ["features.0", "features.14", "features.40", "classifier.0"])
        XCTAssertEqual(try targets("vgg11").map(\.name), ["conv1", "conv_mid", "conv_deep", "fc1"])
    }

    func testVGGBlocksRejectsOtherModels() throws {
        XCTAssertThrowsError(try targets("resnet18")) { error in
            XCTAssertTrue("\(error)".contains("needs a VGG model"), "\(error)")
        }
    }

    /// The suggestions for an unknown path are layers that can be probed, never containers.
    func testUnknownPathSuggestsOnlyLayers() throws {
        var generator = RandomGenerator(seed: 1)
        let model = try ModelCatalog.makeModel(ModelSpecification(name: "resnet18", numClasses: 10), generator: &generator)
        XCTAssertThrowsError(try ProbeSelection.resolve(["layer1.0.downsample"], in: model)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("nearest valid paths: "), message)
            XCTAssertTrue(message.contains("layer2.0.downsample.0"), message)
            XCTAssertFalse(message.contains("layer2.0.downsample,"), message)
            XCTAssertFalse(message.hasSuffix("layer2.0.downsample (see `gradscope inspect` for all)"), message)
        }
    }

    /// Malformed requests are rejected with the request quoted, and the bracket spelling and
    /// `PATH=NAME` still resolve.
    func testMalformedRequestsAreRejected() throws {
        var generator = RandomGenerator(seed: 1)
        let model = try ModelCatalog.makeModel(ModelSpecification(name: "vgg11", numClasses: 10), generator: &generator)

        for request in ["", " ", "=conv1", "features..0", ".features.0", "features.0.", "features.0="] {
            XCTAssertThrowsError(try ProbeSelection.resolve([request], in: model), "'\(request)'") { error in
                XCTAssertTrue("\(error)".contains("--probe '\(request)'"), "\(error)")
            }
        }
        XCTAssertEqual(try ProbeSelection.resolve(["features[0]"], in: model), [ProbeTarget(path: "features.0", name: "features.0")])
        XCTAssertEqual(try ProbeSelection.resolve(["features.3=conv2"], in: model), [ProbeTarget(path: "features.3", name: "conv2")])
        XCTAssertEqual(try ProbeSelection.resolve(["classifier.0=a=b"], in: model), [ProbeTarget(path: "classifier.0", name: "a=b")])
    }
}
