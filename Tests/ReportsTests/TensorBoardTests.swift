import Foundation
import TestSupport
import XCTest

@testable import Reports

final class CRC32CTests: XCTestCase {
    func testCheckString() {
        XCTAssertEqual(crc32c(Array("123456789".utf8)), 0xE306_9283)
    }

    func testEmptyInput() {
        XCTAssertEqual(crc32c([UInt8]()), 0)
    }

    func testISCSIVectors() {
        // The CRC-32C test patterns of RFC 3720, appendix B.4.
        XCTAssertEqual(crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(crc32c([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(crc32c((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(crc32c((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    func testMaskRotatesAndOffsets() {
        // The CRC of "123456789" is 0xE3069283; rotated right by 15 bits it is 0x2507C60D,
        // and 0x2507C60D + 0xA282EAD8 = 0xC78AB0E5.
        XCTAssertEqual(maskedCRC32C(Array("123456789".utf8)), 0xC78A_B0E5)
    }
}

final class ProtobufEncoderTests: XCTestCase {
    func testScalarFieldBytes() {
        var encoder = ProtobufEncoder()
        encoder.appendVarint(field: 2, 300)
        encoder.appendFloat(field: 2, 1.0)
        encoder.appendBytes(field: 1, Data("ab".utf8))

        // 300 = 0b10_0101100 is the varint AC 02; 1.0f is 0x3F800000, stored little-endian.
        XCTAssertEqual(
            [UInt8](encoder.data), [0x10, 0xAC, 0x02, 0x15, 0x00, 0x00, 0x80, 0x3F, 0x0A, 0x02, 0x61, 0x62])
    }

    func testNegativeVarintTakesTenBytes() {
        var encoder = ProtobufEncoder()
        encoder.appendVarint(field: 2, UInt64(bitPattern: -1))

        XCTAssertEqual([UInt8](encoder.data), [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }
}

final class TensorBoardWriterTests: XCTestCase {
    func testFileNameFormat() throws {
        let directory = try makeTemporaryDirectory(self)

        let writer = try TensorBoardWriter(directory: directory, wallTime: 1_700_000_000.75)
        try writer.close()

        let name = writer.url.lastPathComponent
        XCTAssertTrue(name.hasPrefix("events.out.tfevents.1700000000."), name)
        XCTAssertTrue(name.hasSuffix(".\(getpid()).gradscope"), name)
        XCTAssertEqual(writer.url.deletingLastPathComponent().path, directory.path)
    }

    func testFlushWritesBufferedEvents() throws {
        let directory = try makeTemporaryDirectory(self)
        let writer = try TensorBoardWriter(directory: directory, wallTime: 100)
        let versionRecordSize = try Data(contentsOf: writer.url).count

        writer.addScalar(tag: "loss", value: 1.5, step: 1, wallTime: 101)
        XCTAssertEqual(try Data(contentsOf: writer.url).count, versionRecordSize)

        try writer.flush()
        XCTAssertGreaterThan(try Data(contentsOf: writer.url).count, versionRecordSize)
        try writer.close()
    }

    func testEventsReadByTensorBoard() throws {
        let python = try TensorBoardEnvironment.python()
        let directory = try makeTemporaryDirectory(self)
        let writer = try TensorBoardWriter(directory: directory, wallTime: 1_700_000_000.5)

        let expected: [(tag: String, step: Int64, value: Float, wallTime: Double)] = [
            ("loss/train", 0, 2.302_585, 1_700_000_001.25),
            ("loss/train", 1, 1.75, 1_700_000_002.5),
            ("gradient_norm/features.0", 1, 3.2e-7, 1_700_000_002.5),
            ("gradient_norm/classifier.3", 1, -0.0625, 1_700_000_002.5),
            ("loss/train", 1 << 40, 123_456.79, 1_700_000_003.0),
        ]
        writer.addScalar(tag: expected[0].tag, value: expected[0].value, step: expected[0].step, wallTime: expected[0].wallTime)
        try writer.flush()
        writer.addScalar(tag: expected[1].tag, value: expected[1].value, step: expected[1].step, wallTime: expected[1].wallTime)
        writer.addScalars(
            [(expected[2].tag, expected[2].value), (expected[3].tag, expected[3].value)], step: 1,
            wallTime: expected[2].wallTime)
        writer.addScalar(tag: expected[4].tag, value: expected[4].value, step: expected[4].step, wallTime: expected[4].wallTime)
        try writer.close()

        let output = try TensorBoardEnvironment.run(python, script: TensorBoardEnvironment.readerScript, arguments: [writer.url.path])
        let result = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], output)

        XCTAssertEqual(result["records"] as? Int, 5)
        XCTAssertEqual(result["crc_errors"] as? Int, 0)
        XCTAssertEqual(result["file_version"] as? String, "brain.Event:2")
        XCTAssertEqual(result["first_wall_time"] as? Double, 1_700_000_000.5)

        let scalars = try XCTUnwrap(result["scalars"] as? [[Any]])
        XCTAssertEqual(scalars.count, expected.count)
        for (index, entry) in expected.enumerated() where index < scalars.count {
            let actual = scalars[index]
            XCTAssertEqual(actual[0] as? String, entry.tag, "scalar \(index)")
            XCTAssertEqual((actual[1] as? NSNumber)?.int64Value, entry.step, "scalar \(index)")
            XCTAssertEqual((actual[2] as? NSNumber).map { Float($0.doubleValue) }, entry.value, "scalar \(index)")
            XCTAssertEqual((actual[3] as? NSNumber)?.doubleValue, entry.wallTime, "scalar \(index)")
        }
    }
}

/// A Python virtual environment with the `tensorboard` package, created once outside the
/// repository and reused by later test runs.
enum TensorBoardEnvironment {
    /// The interpreter of a virtual environment with `tensorboard`, created on first use.
    static func python() throws -> String {
        try PythonEnvironment.python(name: "tensorboard", packages: ["tensorboard"], module: "tensorboard")
    }

    /// Runs `python -c script arguments…` and returns its standard output.
    static func run(_ python: String, script: String, arguments: [String]) throws -> String {
        try PythonEnvironment.run(python, arguments: ["-c", script] + arguments, environment: ["TF_CPP_MIN_LOG_LEVEL": "3"])
    }

    /// Checks every record's CRCs with TensorBoard's own `masked_crc32c`, then loads the file
    /// with `EventAccumulator` and prints the scalars as JSON.
    static let readerScript = #"""
        import json, logging, struct, sys
        logging.disable(logging.WARNING)
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
        from tensorboard.backend.event_processing import event_accumulator, event_file_loader

        path = sys.argv[1]
        data = open(path, "rb").read()
        offset = records = crc_errors = 0
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", data[offset + 8:offset + 12])
            body = data[offset + 12:offset + 12 + length]
            (body_crc,) = struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])
            crc_errors += masked_crc32c(header) != length_crc
            crc_errors += masked_crc32c(body) != body_crc
            offset += 16 + length
            records += 1

        first = next(iter(event_file_loader.LegacyEventFileLoader(path).Load()))
        accumulator = event_accumulator.EventAccumulator(path, size_guidance={"scalars": 0})
        accumulator.Reload()
        scalars = []
        for tag in accumulator.Tags()["scalars"]:
            for event in accumulator.Scalars(tag):
                scalars.append([tag, event.step, event.value, event.wall_time])
        scalars.sort(key=lambda entry: (entry[3], entry[1]))
        print(json.dumps({
            "records": records,
            "crc_errors": crc_errors,
            "file_version": first.file_version,
            "first_wall_time": first.wall_time,
            "scalars": scalars,
        }))
        """#
}
