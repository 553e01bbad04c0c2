import Foundation
import TestSupport
import XCTest

@testable import Tensors

/// Reads float32 tensors from a safetensors file: an 8-byte little-endian header length, a JSON
/// header mapping names to `dtype`, `shape` and `data_offsets` (relative to the end of the
/// header), then the raw little-endian data. Only what these tests need; the Checkpoints
/// module owns the real reader.
private struct SafetensorsFile {
    let data: Data
    let header: [String: Any]
    let dataStart: Int

    init(_ url: URL) throws {
        data = try Data(contentsOf: url)
        var headerLength: UInt64 = 0
        for byte in data.prefix(8).reversed() {
            headerLength = headerLength << 8 | UInt64(byte)
        }
        dataStart = 8 + Int(headerLength)
        header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart)) as! [String: Any]
    }

    func tensor(_ name: String) throws -> Tensor {
        let entry = try XCTUnwrap(header[name] as? [String: Any], "\(name) is missing")
        XCTAssertEqual(entry["dtype"] as? String, "F32", "\(name) dtype")
        let shape = try XCTUnwrap(entry["shape"] as? [Int], "\(name) shape")
        let offsets = try XCTUnwrap(entry["data_offsets"] as? [Int], "\(name) data_offsets")
        let bytes = data.subdata(in: (dataStart + offsets[0])..<(dataStart + offsets[1]))
        let values = bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / 4)).map { index in
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            }
        }
        return Tensor(values, shape: shape)
    }
}

/// The L2 norm over all elements, accumulated in double precision as the fixtures' norms are.
private func norm(_ tensor: Tensor) -> Double {
    tensor.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
}

/// Compares kernels with values that PyTorch 2.13 computed on the fixture models (see
/// Tests/Fixtures/README.md for how they were made).
final class PyTorchReferenceTests: XCTestCase {
    func testMiniVGGFirstConvolutionNorm() throws {
        let tensors = try SafetensorsFile(Fixtures.url("fixture_mini_vgg.safetensors"))
        let expected = try Fixtures.json("fixture_mini_vgg.json")
        let modules = try XCTUnwrap(expected["modules"] as? [String: Any])
        let module = try XCTUnwrap(modules["features.0"] as? [String: Any])
        let expectedNorm = try XCTUnwrap(module["forward_output_norm"] as? Double)

        let output = conv2d(
            try tensors.tensor("input"), weight: try tensors.tensor("features.0.weight"),
            bias: try tensors.tensor("features.0.bias"), padding: Size2(1))

        XCTAssertEqual(output.shape, try XCTUnwrap(module["forward_output_shape"] as? [Int]))
        XCTAssertEqual(norm(output), expectedNorm, accuracy: expectedNorm * 1e-4)
    }

    func testMiniResNetStemConvolutionAndBatchNorm() throws {
        // The stem is conv1 (7x7, stride 2, padding 3, no bias) followed by bn1 in training mode.
        let tensors = try SafetensorsFile(Fixtures.url("fixture_mini_resnet.safetensors"))
        let expected = try Fixtures.json("fixture_mini_resnet.json")
        let modules = try XCTUnwrap(expected["modules"] as? [String: Any])
        let module = try XCTUnwrap(modules["conv1"] as? [String: Any])
        let expectedNorm = try XCTUnwrap(module["forward_output_norm"] as? Double)
        let buffers = try XCTUnwrap(expected["buffers"] as? [String: Any])
        let meanEntry = try XCTUnwrap(buffers["bn1.running_mean"] as? [String: Any])
        let varianceEntry = try XCTUnwrap(buffers["bn1.running_var"] as? [String: Any])
        let expectedMean = try XCTUnwrap(meanEntry["after_forward"] as? [Double]).map { Float($0) }
        let expectedVariance = try XCTUnwrap(varianceEntry["after_forward"] as? [Double]).map { Float($0) }

        let features = conv2d(
            try tensors.tensor("input"), weight: try tensors.tensor("conv1.weight"), bias: nil, stride: Size2(2),
            padding: Size2(3))
        XCTAssertEqual(features.shape, try XCTUnwrap(module["forward_output_shape"] as? [Int]))
        XCTAssertEqual(norm(features), expectedNorm, accuracy: expectedNorm * 1e-4)

        let runningMean = try tensors.tensor("bn1.running_mean")
        let runningVariance = try tensors.tensor("bn1.running_var")
        _ = batchNorm2d(
            features, weight: try tensors.tensor("bn1.weight"), bias: try tensors.tensor("bn1.bias"),
            runningMean: runningMean, runningVariance: runningVariance, training: true)
        assertClose(runningMean.scalars, expectedMean, absolute: 1e-6, relative: 1e-4, "bn1 running mean")
        assertClose(runningVariance.scalars, expectedVariance, absolute: 1e-6, relative: 1e-4, "bn1 running variance")
    }
}
