import Foundation
import XCTest

@testable import NeuralNetworks

/// `config.json` shows the settings that apply to the model and reads older files that list all.
final class ModelSpecificationCodingTests: XCTestCase {
    private func keys(of specification: ModelSpecification) throws -> Set<String> {
        let data = try JSONEncoder().encode(specification)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Set(object.keys)
    }

    func testEachFamilyWritesItsOwnFields() throws {
        XCTAssertEqual(
            try keys(of: ModelSpecification(name: "resnet50", skipConnections: false)),
            ["name", "numClasses", "skipConnections", "inputShape"])
        XCTAssertEqual(try keys(of: ModelSpecification(name: "vgg19_bn")), ["name", "numClasses", "dropout", "inputShape"])
        XCTAssertEqual(
            try keys(of: ModelSpecification(name: "mlp", depth: 3, width: 8, activation: .relu)),
            ["name", "numClasses", "depth", "width", "activation", "inputShape"])
    }

    func testWrittenSpecificationsReadBackEqual() throws {
        let specifications = [
            ModelSpecification(name: "resnet18", numClasses: 7, skipConnections: false, inputShape: [3, 64, 64]),
            ModelSpecification(name: "vgg11", dropout: 0.25),
            ModelSpecification(name: "mlp", depth: 4, width: 16, activation: .tanh, inputShape: [1, 8, 8]),
        ]
        for specification in specifications {
            let data = try JSONEncoder().encode(specification)
            XCTAssertEqual(try JSONDecoder().decode(ModelSpecification.self, from: data), specification, specification.name)
        }
    }

    /// Runs written before the fields were filtered list every field, whatever the model.
    func testOlderFileWithEveryFieldIsRead() throws {
        let json = """
            {"name": "resnet18", "numClasses": 10, "skipConnections": true, "dropout": 0.5, "depth": 20,
             "width": 256, "activation": "sigmoid", "inputShape": [3, 32, 32]}
            """
        let specification = try JSONDecoder().decode(ModelSpecification.self, from: Data(json.utf8))
        XCTAssertEqual(specification, ModelSpecification(name: "resnet18"))
    }
}
