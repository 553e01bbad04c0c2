import Checkpoints
import Foundation
import Tensors
import TestSupport
import XCTest

/// Checks GradScope's safetensors output with the reference Python package.
///
/// The test creates a virtual environment with `safetensors` and `numpy` from PyPI once
/// (`PythonEnvironment`); when that fails, the test fails and shows the command output.
final class PythonInteropTests: XCTestCase {
    /// An interpreter that can import `safetensors` and `numpy`, installing them on first use.
    private func pythonWithSafetensors() throws -> String {
        try PythonEnvironment.python(name: "safetensors", packages: ["safetensors", "numpy"], module: "safetensors, numpy")
    }

    func testPythonReadsGradScopeFile() throws {
        let python: String
        do {
            python = try pythonWithSafetensors()
        } catch let error as PythonEnvironment.SetupError {
            return XCTFail(error.description)
        }
        let directory = try makeTemporaryDirectory(for: self)
        let url = directory.appendingPathComponent("gradscope.safetensors")
        let weight = Tensor([0.1, -2.5, 3.0e-8, 1e30, -0.0, 7], shape: [2, 3])
        let labels = StoredTensor(name: "labels", dtype: .i64, shape: [3], data: Data(littleEndianBytes(5) + littleEndianBytes(UInt64(bitPattern: -2)) + littleEndianBytes(1 << 40)))
        let mask = StoredTensor(name: "mask", dtype: .bool, shape: [2], data: Data([1, 0]))
        let half = StoredTensor(name: "half", dtype: .f16, shape: [2], data: Data([0x00, 0x3C, 0x00, 0xC1]))
        try writeSafetensors(
            [StoredTensor(name: "layer.weight", tensor: weight), labels, mask, half], metadata: ["epoch": "4", "run": "a b"], to: url)
        let script = """
            import json, sys
            from safetensors import safe_open
            from safetensors.numpy import load_file
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="numpy") as handle:
                metadata = handle.metadata()
            print(json.dumps({
                "metadata": metadata,
                "tensors": {name: {"dtype": str(value.dtype), "shape": list(value.shape),
                                   "values": [float(x) for x in value.ravel().tolist()]}
                            for name, value in tensors.items()},
            }))
            """

        let output = try PythonEnvironment.run(python, arguments: ["-c", script, url.path])

        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)
        XCTAssertEqual(json["metadata"] as? [String: String], ["epoch": "4", "run": "a b"])
        let tensors = try XCTUnwrap(json["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(tensors.keys), ["layer.weight", "labels", "mask", "half"])

        let readWeight = try XCTUnwrap(tensors["layer.weight"])
        XCTAssertEqual(readWeight["dtype"] as? String, "float32")
        XCTAssertEqual(readWeight["shape"] as? [Int], [2, 3])
        XCTAssertEqual((readWeight["values"] as? [Double])?.map(Float.init), weight.scalars)

        XCTAssertEqual(tensors["labels"]?["dtype"] as? String, "int64")
        XCTAssertEqual(tensors["labels"]?["values"] as? [Double], [5, -2, 1_099_511_627_776])
        XCTAssertEqual(tensors["mask"]?["dtype"] as? String, "bool")
        XCTAssertEqual(tensors["mask"]?["values"] as? [Double], [1, 0])
        XCTAssertEqual(tensors["half"]?["dtype"] as? String, "float16")
        XCTAssertEqual(tensors["half"]?["values"] as? [Double], [1, -2.5])
    }
}
