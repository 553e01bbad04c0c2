import Checkpoints
import Foundation
import TestSupport
import XCTest

/// Returns the URL of a file in `Tests/Fixtures/checkpoints`.
func checkpointFixture(_ name: String) -> URL {
    Fixtures.directory.appendingPathComponent("checkpoints").appendingPathComponent(name)
}

/// Creates an empty directory under the system temporary directory, which the test's teardown removes.
func makeTemporaryDirectory(for testCase: XCTestCase) throws -> URL {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("gradscope-checkpoints-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    testCase.addTeardownBlock {
        try? FileManager.default.removeItem(at: directory)
    }
    return directory
}

/// Writes bytes to a file in `directory` and returns its URL.
func writeFile(_ bytes: [UInt8], named name: String, in directory: URL) throws -> URL {
    let url = directory.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

/// Copies the raw bytes of a stored tensor into an array that starts at index 0.
func rawBytes(_ tensor: StoredTensor) -> [UInt8] {
    tensor.withUnsafeBytes { Array($0) }
}

/// Reads the little-endian 16-bit words of an F16 or BF16 tensor.
func halfWords(_ tensor: StoredTensor) -> [UInt16] {
    let bytes = rawBytes(tensor)
    return stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
}

/// Reads the float64 values of an F64 tensor.
func doubleValues(_ tensor: StoredTensor) -> [Double] {
    tensor.withUnsafeBytes { buffer in
        (0..<(buffer.count / 8)).map { Double(bitPattern: UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
    }
}

/// Asserts that a closure throws a `CheckpointError` equal to `expected`.
func assertThrowsCheckpointError<T>(
    _ expected: CheckpointError, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) {
    do {
        _ = try body()
        XCTFail("expected the error \(expected), but nothing was thrown", file: file, line: line)
    } catch let error as CheckpointError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
    }
}

/// Returns the `CheckpointError` a closure throws, failing the test when it throws nothing or another type.
func checkpointError<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) -> CheckpointError? {
    do {
        _ = try body()
        XCTFail("expected a CheckpointError, but nothing was thrown", file: file, line: line)
    } catch let error as CheckpointError {
        return error
    } catch {
        XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
    }
    return nil
}

/// Encodes an unsigned 64-bit integer as 8 little-endian bytes.
func littleEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

/// Builds safetensors file bytes from a header text and a data section.
func safetensorsBytes(header: String, data: [UInt8]) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    return littleEndianBytes(UInt64(headerBytes.count)) + headerBytes + data
}
