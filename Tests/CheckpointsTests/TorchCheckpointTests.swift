import Checkpoints
import Foundation
import Tensors
import XCTest

/// Reads the files of `make_checkpoints.py`. The expected values restate that script's tensors.
final class TorchCheckpointTests: XCTestCase {
    private let featureNames = [
        "plain", "transposed", "row", "column", "permuted", "half", "bfloat", "double", "long", "int", "short",
        "char", "byte", "flag", "scalar", "empty", "param", "nested.inner.weight",
    ]

    /// `torch.arange(12).reshape(3, 4) * 0.5 - 1`, row-major.
    private let plainValues: [Float] = (0..<12).map { Float($0) * 0.5 - 1 }

    private func checkFeatures(_ archive: TensorArchive, _ label: String) throws {
        XCTAssertEqual(archive.names, featureNames, label)
        XCTAssertEqual(archive.metadata, [:], label)

        let plain = try XCTUnwrap(archive["plain"])
        XCTAssertEqual(plain.dtype, .f32, label)
        XCTAssertEqual(plain.shape, [3, 4], label)
        XCTAssertEqual(try plain.floatTensor().scalars, plainValues, label)

        var transposedValues: [Float] = []
        for column in 0..<4 {
            for row in 0..<3 {
                transposedValues.append(plainValues[row * 4 + column])
            }
        }
        let transposed = try XCTUnwrap(archive["transposed"])
        XCTAssertEqual(transposed.shape, [4, 3], label)
        XCTAssertEqual(try transposed.floatTensor().scalars, transposedValues, label)

        XCTAssertEqual(archive["row"]?.shape, [4], label)
        XCTAssertEqual(try archive["row"]?.floatTensor().scalars, [1, 1.5, 2, 2.5], label)
        XCTAssertEqual(archive["column"]?.shape, [3], label)
        XCTAssertEqual(try archive["column"]?.floatTensor().scalars, [0, 2, 4], label)

        let permuted = try XCTUnwrap(archive["permuted"])
        XCTAssertEqual(permuted.dtype, .f64, label)
        XCTAssertEqual(permuted.shape, [4, 2, 3], label)
        var permutedValues: [Double] = []
        for a in 0..<4 {
            for b in 0..<2 {
                for c in 0..<3 {
                    permutedValues.append(Double(b * 12 + c * 4 + a))
                }
            }
        }
        XCTAssertEqual(doubleValues(permuted), permutedValues, label)

        let half = try XCTUnwrap(archive["half"])
        XCTAssertEqual(half.dtype, .f16, label)
        XCTAssertEqual(halfWords(half), [0x3C00, 0xC100, 0x3555, 0x7BFF, 0x0400, 0x0001, 0x8000, 0x7C00], label)
        let halfFloats = try half.floatTensor().scalars
        XCTAssertEqual(halfFloats, [1, -2.5, 0.333251953125, 65504, 0x1p-14, 0x1p-24, 0, .infinity], label)
        XCTAssertEqual(halfFloats[6].sign, .minus, label)

        let bfloat = try XCTUnwrap(archive["bfloat"])
        XCTAssertEqual(bfloat.dtype, .bf16, label)
        XCTAssertEqual(halfWords(bfloat), [0x3F80, 0xC049, 0x3C00, 0x47C0], label)
        XCTAssertEqual(try bfloat.floatTensor().scalars, [1, -3.140625, 0.0078125, 98304], label)

        let double = try XCTUnwrap(archive["double"])
        XCTAssertEqual(double.dtype, .f64, label)
        XCTAssertEqual(doubleValues(double), [0.1, -2.5, 1e-40, 3.0e38], label)
        XCTAssertEqual(try double.floatTensor().scalars, [Float(0.1), -2.5, Float(1e-40), Float(3.0e38)], label)

        XCTAssertEqual(archive["long"]?.dtype, .i64, label)
        XCTAssertEqual(archive["long"]?.integerValues(), [0, -1, 1 << 40, 7], label)
        XCTAssertEqual(try archive["long"]?.floatTensor().scalars, [0, -1, 1_099_511_627_776, 7], label)
        XCTAssertEqual(archive["int"]?.dtype, .i32, label)
        XCTAssertEqual(archive["int"]?.integerValues(), [-2_147_483_648, 2_147_483_647, 5], label)
        XCTAssertEqual(archive["short"]?.dtype, .i16, label)
        XCTAssertEqual(archive["short"]?.integerValues(), [-32768, 32767, 3], label)
        XCTAssertEqual(archive["char"]?.dtype, .i8, label)
        XCTAssertEqual(archive["char"]?.integerValues(), [-128, 127, -1], label)
        XCTAssertEqual(archive["byte"]?.dtype, .u8, label)
        XCTAssertEqual(archive["byte"]?.integerValues(), [0, 255, 17], label)
        XCTAssertEqual(archive["flag"]?.dtype, .bool, label)
        XCTAssertEqual(try archive["flag"]?.floatTensor().scalars, [1, 0, 1], label)

        XCTAssertEqual(archive["scalar"]?.shape, [], label)
        XCTAssertEqual(try archive["scalar"]?.floatTensor().scalars, [2.5], label)
        XCTAssertEqual(archive["empty"]?.shape, [0, 3], label)
        XCTAssertEqual(archive["empty"]?.data.count, 0, label)
        XCTAssertEqual(try archive["param"]?.floatTensor().scalars, [0.25, -0.75], label)

        let nested = try XCTUnwrap(archive["nested.inner.weight"])
        XCTAssertEqual(nested.shape, [2, 2], label)
        XCTAssertEqual(try nested.floatTensor().scalars, [1, 4, 2, 5], label)
    }

    func testZipFormat() throws {
        let archive = try loadTensorArchive(at: checkpointFixture("features_zip.pth"))

        XCTAssertEqual(archive.format, .torchZip)
        try checkFeatures(archive, "zip")
    }

    func testLegacyFormat() throws {
        let archive = try loadTensorArchive(at: checkpointFixture("features_legacy.pth"))

        XCTAssertEqual(archive.format, .torchLegacy)
        try checkFeatures(archive, "legacy")
    }

    func testPickleProtocol4() throws {
        let zip = try loadTensorArchive(at: checkpointFixture("features_zip_protocol4.pth"))
        let legacy = try loadTensorArchive(at: checkpointFixture("features_legacy_protocol4.pth"))

        XCTAssertEqual(zip.format, .torchZip)
        XCTAssertEqual(legacy.format, .torchLegacy)
        try checkFeatures(zip, "zip, protocol 4")
        try checkFeatures(legacy, "legacy, protocol 4")
    }

    func testDeflatedZip() throws {
        let archive = try loadTensorArchive(at: checkpointFixture("features_deflated.pth"))

        XCTAssertEqual(archive.format, .torchZip)
        try checkFeatures(archive, "deflated")
    }

    func testFormatsAgreeBitForBit() throws {
        let zip = try loadTensorArchive(at: checkpointFixture("features_zip.pth"))
        let legacy = try loadTensorArchive(at: checkpointFixture("features_legacy.pth"))

        for tensor in zip.tensors {
            let twin = try XCTUnwrap(legacy[tensor.name], tensor.name)
            XCTAssertEqual(twin.dtype, tensor.dtype, tensor.name)
            XCTAssertEqual(twin.shape, tensor.shape, tensor.name)
            XCTAssertEqual(rawBytes(twin), rawBytes(tensor), tensor.name)
        }
    }

    private func checkModuleState(_ archive: TensorArchive, _ label: String) throws {
        XCTAssertEqual(
            archive.names,
            ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"], label)
        XCTAssertEqual(archive["0.weight"]?.shape, [2, 3], label)
        XCTAssertEqual(try archive["0.weight"]?.floatTensor().scalars, [0, 0.125, 0.25, 0.375, 0.5, 0.625], label)
        XCTAssertEqual(try archive["0.bias"]?.floatTensor().scalars, [0.5, -0.5], label)
        XCTAssertEqual(try archive["1.weight"]?.floatTensor().scalars, [1.5, 2], label)
        XCTAssertEqual(try archive["1.bias"]?.floatTensor().scalars, [0.25, 0], label)
        XCTAssertEqual(try archive["1.running_mean"]?.floatTensor().scalars, [0.125, -0.25], label)
        XCTAssertEqual(try archive["1.running_var"]?.floatTensor().scalars, [1.5, 0.75], label)
        XCTAssertEqual(archive["1.num_batches_tracked"]?.dtype, .i64, label)
        XCTAssertEqual(archive["1.num_batches_tracked"]?.integerValues(), [7], label)
    }

    func testStateDictWrapperIsUnwrapped() throws {
        let archive = try loadTensorArchive(at: checkpointFixture("wrapped_state_dict.pth"))

        try checkModuleState(archive, "state_dict")
    }

    func testModelWrapperInLegacyFormat() throws {
        let archive = try loadTensorArchive(at: checkpointFixture("wrapped_model_legacy.pth"))

        XCTAssertEqual(archive.format, .torchLegacy)
        try checkModuleState(archive, "model")
    }

    func testShortStorageIsAnError() throws {
        let url = checkpointFixture("short_storage.pth")

        assertThrowsCheckpointError(
            .storageTooShort(path: url.path, entry: "weight", requiredElements: 6, availableElements: 4)
        ) {
            try loadTensorArchive(at: url)
        }
    }

    func testTruncatedZipIsAnError() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let bytes = try [UInt8](Data(contentsOf: checkpointFixture("features_zip.pth")))
        for length in [10, 100, bytes.count / 2, bytes.count - 30] {
            let url = try writeFile(Array(bytes.prefix(length)), named: "truncated_\(length).pth", in: directory)

            let error = checkpointError { try loadTensorArchive(at: url) }

            XCTAssertNotNil(error, "length \(length)")
            XCTAssertTrue(error?.description.contains(url.path) ?? false, "length \(length): \(String(describing: error))")
        }
    }

    func testTruncatedLegacyIsAnError() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let bytes = try [UInt8](Data(contentsOf: checkpointFixture("features_legacy.pth")))
        for length in [20, 200, bytes.count / 2, bytes.count - 1] {
            let url = try writeFile(Array(bytes.prefix(length)), named: "truncated_\(length).pth", in: directory)

            let error = checkpointError { try loadTensorArchive(at: url) }

            XCTAssertNotNil(error, "length \(length)")
            XCTAssertTrue(error?.description.contains(url.path) ?? false, "length \(length): \(String(describing: error))")
        }
    }

    func testCorruptedDeflateMemberFailsItsChecksum() throws {
        let directory = try makeTemporaryDirectory(for: self)
        var bytes = try [UInt8](Data(contentsOf: checkpointFixture("features_deflated.pth")))
        // Flip one bit inside the first member's deflate stream (after its 30-byte local header and name).
        let nameLength = Int(bytes[26]) | Int(bytes[27]) << 8
        let extraLength = Int(bytes[28]) | Int(bytes[29]) << 8
        bytes[30 + nameLength + extraLength + 5] ^= 0x10
        let url = try writeFile(bytes, named: "corrupt.pth", in: directory)

        let error = checkpointError { try loadTensorArchive(at: url) }

        guard case .corruptMember(let path, let member, _)? = error else {
            return XCTFail("expected corruptMember, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(member.hasSuffix("data.pkl"), member)
    }

    func testZip64DirectoryIsRead() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let source = try loadTensorArchive(at: checkpointFixture("features_zip.pth"))
        let url = directory.appendingPathComponent("zip64.pth")
        try Data(Zip64Writer.rewrite(try Data(contentsOf: checkpointFixture("features_zip.pth")))).write(to: url)

        let archive = try loadTensorArchive(at: url)

        XCTAssertEqual(archive.names, source.names)
        for tensor in source.tensors {
            XCTAssertEqual(archive[tensor.name].map(rawBytes), rawBytes(tensor), tensor.name)
        }
    }

    func testUnrecognizedFileIsAnError() throws {
        let directory = try makeTemporaryDirectory(for: self)
        let url = try writeFile(Array("just some text, not a checkpoint".utf8), named: "notes.pth", in: directory)

        assertThrowsCheckpointError(.unrecognizedFormat(path: url.path)) {
            try loadTensorArchive(at: url)
        }

        // A file too short for any header is not called truncated: nothing marks it as a checkpoint.
        let short = try writeFile(Array("vm\n".utf8), named: "hostname", in: directory)
        assertThrowsCheckpointError(.unrecognizedFormat(path: short.path)) {
            try loadTensorArchive(at: short)
        }
    }

    func testMissingFileIsAnError() throws {
        let url = URL(fileURLWithPath: "/nonexistent/gradscope/weights.pth")

        assertThrowsCheckpointError(.unreadableFile(path: url.path, reason: "No such file or directory")) {
            try loadTensorArchive(at: url)
        }
    }
}

/// Rewrites a zip archive with zip64 records: every size and offset in the central directory is
/// moved into a zip64 extra field, and a zip64 end record and locator precede the classic end record.
enum Zip64Writer {
    private static func uint16(_ bytes: [UInt8], _ offset: Int) -> Int {
        Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
    }

    private static func uint32(_ bytes: [UInt8], _ offset: Int) -> Int {
        uint16(bytes, offset) | uint16(bytes, offset + 2) << 16
    }

    private static func le16(_ value: Int) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)]
    }

    private static func le32(_ value: Int) -> [UInt8] {
        le16(value & 0xFFFF) + le16(value >> 16 & 0xFFFF)
    }

    static func rewrite(_ data: Data) -> [UInt8] {
        let bytes = [UInt8](data)
        var end = bytes.count - 22
        while uint32(bytes, end) != 0x0605_4B50 {
            end -= 1
        }
        let entryCount = uint16(bytes, end + 10)
        let directoryOffset = uint32(bytes, end + 16)

        var output = Array(bytes[0..<directoryOffset])
        let newDirectoryOffset = output.count
        var cursor = directoryOffset
        for _ in 0..<entryCount {
            let nameLength = uint16(bytes, cursor + 28)
            let extraLength = uint16(bytes, cursor + 30)
            let commentLength = uint16(bytes, cursor + 32)
            let compressedSize = uint32(bytes, cursor + 20)
            let uncompressedSize = uint32(bytes, cursor + 24)
            let localOffset = uint32(bytes, cursor + 42)

            var header = Array(bytes[cursor..<(cursor + 46)])
            header.replaceSubrange(20..<24, with: [0xFF, 0xFF, 0xFF, 0xFF])
            header.replaceSubrange(24..<28, with: [0xFF, 0xFF, 0xFF, 0xFF])
            header.replaceSubrange(42..<46, with: [0xFF, 0xFF, 0xFF, 0xFF])
            header.replaceSubrange(30..<32, with: le16(4 + 24))
            header.replaceSubrange(32..<34, with: le16(0))
            let name = Array(bytes[(cursor + 46)..<(cursor + 46 + nameLength)])
            let zip64Extra = le16(1) + le16(24) + littleEndianBytes(UInt64(uncompressedSize))
                + littleEndianBytes(UInt64(compressedSize)) + littleEndianBytes(UInt64(localOffset))
            output += header + name + zip64Extra
            cursor += 46 + nameLength + extraLength + commentLength
        }
        let directorySize = output.count - newDirectoryOffset

        let zip64EndOffset = output.count
        output += le32(0x0606_4B50) + littleEndianBytes(44) + le16(45) + le16(45) + le32(0) + le32(0)
        output += littleEndianBytes(UInt64(entryCount)) + littleEndianBytes(UInt64(entryCount))
        output += littleEndianBytes(UInt64(directorySize)) + littleEndianBytes(UInt64(newDirectoryOffset))
        output += le32(0x0706_4B50) + le32(0) + littleEndianBytes(UInt64(zip64EndOffset)) + le32(1)
        output += le32(0x0605_4B50) + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF)
        output += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(0)
        return output
    }
}
