import Checkpoints
import Foundation
import XCTest

final class MalformedSafetensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory(for: self)
    }

    private func file(header: String, data: [UInt8], name: String = "bad.safetensors") throws -> URL {
        try writeFile(safetensorsBytes(header: header, data: data), named: name, in: directory)
    }

    func testTruncatedLengthField() throws {
        let url = try writeFile([0x10, 0x00, 0x00], named: "short.safetensors", in: directory)

        assertThrowsCheckpointError(.truncated(path: url.path, detail: "the file has 3 bytes, fewer than the 8-byte header length field")) {
            try readSafetensors(at: url)
        }
    }

    func testTruncatedData() throws {
        let bytes = try [UInt8](Data(contentsOf: checkpointFixture("all_dtypes.safetensors")))
        let url = try writeFile(Array(bytes.dropLast(3)), named: "truncated.safetensors", in: directory)

        assertThrowsCheckpointError(
            .invalidEntry(path: url.path, entry: "b_u8", detail: "'data_offsets' end at byte 38, past the data section of 37 bytes")
        ) {
            try loadTensorArchive(at: url)
        }
    }

    func testHeaderLengthLargerThanFile() throws {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var bytes = safetensorsBytes(header: header, data: [0, 0, 0x80, 0x3F])
        bytes.replaceSubrange(0..<8, with: littleEndianBytes(1000))
        let url = try writeFile(bytes, named: "long_header.safetensors", in: directory)

        let error = checkpointError { try loadTensorArchive(at: url) }

        guard case .invalidHeader(url.path, let detail)? = error else {
            return XCTFail("expected invalidHeader, got \(String(describing: error))")
        }
        XCTAssertTrue(detail.contains("is 1000 bytes, but only \(bytes.count - 8) bytes follow"), detail)
    }

    func testHeaderLengthTooShortCutsJSON() throws {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        var bytes = safetensorsBytes(header: header, data: [0, 0, 0x80, 0x3F])
        bytes.replaceSubrange(0..<8, with: littleEndianBytes(20))
        let url = try writeFile(bytes, named: "short_header.safetensors", in: directory)

        let error = checkpointError { try readSafetensors(at: url) }

        guard case .invalidHeader(url.path, let detail)? = error else {
            return XCTFail("expected invalidHeader, got \(String(describing: error))")
        }
        XCTAssertTrue(detail.hasPrefix("the header is not valid JSON"), detail)
    }

    func testInvalidJSON() throws {
        let url = try file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}"#, data: [0, 0, 0, 0])

        assertThrowsCheckpointError(
            .invalidHeader(path: url.path, detail: "the header is not valid JSON at byte 54: expected a string key")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testDuplicateName() throws {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let url = try file(header: header, data: [UInt8](repeating: 0, count: 8))

        assertThrowsCheckpointError(.duplicateName(path: url.path, name: "w")) {
            try readSafetensors(at: url)
        }
    }

    func testUnknownDType() throws {
        let url = try file(header: #"{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, data: [0, 0])

        assertThrowsCheckpointError(.unsupportedDType(path: url.path, entry: "w", dtype: "F8_E4M3")) {
            try readSafetensors(at: url)
        }
    }

    func testShapeDisagreesWithByteCount() throws {
        let url = try file(header: #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#, data: [UInt8](repeating: 0, count: 12))

        assertThrowsCheckpointError(
            .invalidEntry(
                path: url.path, entry: "w", detail: "shape [2, 2] of F32 needs 16 bytes, but 'data_offsets' [0, 12] span 12")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testOverlappingOffsets() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let url = try file(header: header, data: [UInt8](repeating: 0, count: 8))

        assertThrowsCheckpointError(
            .invalidEntry(path: url.path, entry: "b", detail: "the data at byte 4 overlaps 'a', which ends at byte 8")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testGapBetweenTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let url = try file(header: header, data: [UInt8](repeating: 0, count: 12))

        assertThrowsCheckpointError(
            .invalidEntry(path: url.path, entry: "b", detail: "the data starts at byte 8, leaving bytes 4..<8 unused")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testUncoveredTrailingData() throws {
        let url = try file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [UInt8](repeating: 0, count: 6))

        assertThrowsCheckpointError(
            .invalidHeader(path: url.path, detail: "the tensors cover 4 bytes of the 6-byte data section")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testOffsetsOutOfBounds() throws {
        let url = try file(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [UInt8](repeating: 0, count: 8))

        assertThrowsCheckpointError(
            .invalidEntry(path: url.path, entry: "a", detail: "'data_offsets' end at byte 16, past the data section of 8 bytes")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testMissingField() throws {
        let url = try file(header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])

        assertThrowsCheckpointError(.invalidEntry(path: url.path, entry: "a", detail: "the field 'shape' is missing")) {
            try readSafetensors(at: url)
        }
    }

    func testNegativeShape() throws {
        let url = try file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])

        assertThrowsCheckpointError(.invalidEntry(path: url.path, entry: "a", detail: "'shape' must hold non-negative integers")) {
            try readSafetensors(at: url)
        }
    }

    func testMetadataMustBeStrings() throws {
        let url = try file(header: #"{"__metadata__":{"epoch":3},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [9])

        assertThrowsCheckpointError(
            .invalidEntry(path: url.path, entry: "__metadata__", detail: "the metadata value of 'epoch' is not a string")
        ) {
            try readSafetensors(at: url)
        }
    }

    func testEscapedNamesAndEmptyFile() throws {
        let header = #"{"la\u00efer.w\"x":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}"#
        let url = try file(header: header, data: [42])
        let empty = try file(header: "{}", data: [], name: "empty.safetensors")

        let archive = try readSafetensors(at: url)

        XCTAssertEqual(archive.names, ["la\u{ef}er.w\"x"])
        XCTAssertEqual(archive.tensors.first?.integerValues(), [42])
        XCTAssertEqual(try readSafetensors(at: empty).count, 0)
    }

    func testFloat64OverflowIsReported() throws {
        let url = try file(header: #"{"big":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: littleEndianBytes(1e300.bitPattern))
        let archive = try readSafetensors(at: url)

        assertThrowsCheckpointError(.valueOutOfRange(entry: "big", value: 1e300)) {
            try archive["big"]!.floatTensor()
        }
    }
}
