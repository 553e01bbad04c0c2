import Foundation
import XCTest

@testable import Datasets

/// A Python value to pickle with protocol 3, for batches the committed fixtures do not cover.
private indirect enum PythonValue {
    case int(Int)
    case str(String)
    case bytes([UInt8])
    case list([PythonValue])
    case dict([(PythonValue, PythonValue)])
    /// A C-order numpy array with a dtype code such as `u1`, `f4` or `i8` and its raw little-endian bytes.
    case array(code: String, shape: [Int], data: [UInt8])

    /// The pickle of the value, as `pickle.dumps(value, protocol=3)` with numpy 2 would write it (without memo opcodes).
    var pickled: [UInt8] {
        [0x80, 3] + opcodes + Array(".".utf8)
    }

    private var opcodes: [UInt8] {
        switch self {
        case .int(let value):
            return Array("J".utf8) + littleEndian(Int32(value))
        case .str(let text):
            return Array("X".utf8) + littleEndian(UInt32(text.utf8.count)) + Array(text.utf8)
        case .bytes(let bytes):
            return Array("B".utf8) + littleEndian(UInt32(bytes.count)) + bytes
        case .list(let elements):
            return Array("](".utf8) + elements.flatMap(\.opcodes) + Array("e".utf8)
        case .dict(let entries):
            return Array("}(".utf8) + entries.flatMap { $0.0.opcodes + $0.1.opcodes } + Array("u".utf8)
        case .array(let code, let shape, let data):
            let byteOrder = code == "u1" ? "|" : "<"
            let dtype =
                Array("cnumpy\ndtype\n".utf8) + PythonValue.str(code).opcodes + [0x89, 0x88, 0x87] + Array("R(".utf8)
                + PythonValue.int(3).opcodes + PythonValue.str(byteOrder).opcodes + Array("NNN".utf8)
                + PythonValue.int(-1).opcodes + PythonValue.int(-1).opcodes + PythonValue.int(0).opcodes
                + Array("tb".utf8)
            let shapeTuple = Array("(".utf8) + shape.flatMap { PythonValue.int($0).opcodes } + Array("t".utf8)
            return Array("cnumpy._core.multiarray\n_reconstruct\n".utf8) + Array("cnumpy\nndarray\n".utf8)
                + PythonValue.int(0).opcodes + [0x85] + PythonValue.bytes(Array("b".utf8)).opcodes + [0x87]
                + Array("R(".utf8) + PythonValue.int(1).opcodes + shapeTuple + dtype + [0x89]
                + PythonValue.bytes(data).opcodes + Array("tb".utf8)
        }
    }

    private func littleEndian<Integer: FixedWidthInteger>(_ value: Integer) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}

final class CIFARPythonTests: XCTestCase {
    private let standardNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// Pixel `k` of sample `s` in the fixtures is `(s * 31 + k) % 256`, with `s` counting across a set's batches.
    private func fixturePixels(sample: Int) -> [UInt8] {
        (0..<3072).map { UInt8((sample * 31 + $0) % 256) }
    }

    /// Copies a fixture folder to `root/name` and returns the copy.
    private func copyFixture(_ fixture: String, to root: URL, as name: String) throws -> URL {
        let destination = root.appendingPathComponent(name)
        try FileManager.default.copyItem(at: datasetFixtures.appendingPathComponent(fixture), to: destination)
        return destination
    }

    /// Checks a CIFAR-10 fixture: training labels 0...9 on samples 0...9, test labels 7 and 3 on samples 10 and 11.
    private func checkCIFAR10Fixture(_ fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let directory = datasetFixtures.appendingPathComponent(fixture)

        let train = try openDataset(at: directory, split: .train)
        let test = try openDataset(at: directory, split: .test)

        XCTAssertEqual(train.count, 10, file: file, line: line)
        XCTAssertEqual(test.count, 2, file: file, line: line)
        XCTAssertEqual(train.classNames, standardNames, file: file, line: line)
        XCTAssertEqual(train.channelCount, 3, file: file, line: line)
        XCTAssertEqual(train.uniformImageSize, ImageSize(32), file: file, line: line)
        XCTAssertEqual((0..<10).map { train.label(at: $0) }, Array(0..<10), file: file, line: line)
        XCTAssertEqual([test.label(at: 0), test.label(at: 1)], [7, 3], file: file, line: line)
        for sample in 0..<10 {
            XCTAssertEqual(
                try train.image(at: sample).pixels, fixturePixels(sample: sample), "train \(sample)", file: file, line: line)
        }
        for sample in 0..<2 {
            XCTAssertEqual(
                try test.image(at: sample).pixels, fixturePixels(sample: 10 + sample), "test \(sample)", file: file, line: line)
        }
    }

    func testCIFAR10Protocol2() throws {
        try checkCIFAR10Fixture("cifar10_pickle_p2")
    }

    func testCIFAR10Protocol4() throws {
        try checkCIFAR10Fixture("cifar10_pickle_p4")
    }

    func testCIFAR10Python2Style() throws {
        try checkCIFAR10Fixture("cifar10_pickle_legacy")
    }

    func testCIFAR10ChannelOrder() throws {
        let dataset = try openDataset(at: datasetFixtures.appendingPathComponent("cifar10_pickle_p2"), split: .train)

        let image = try dataset.image(at: 4)

        // Row k of `data` contains red, green, blue planes of 32 rows by 32 columns: k = c * 1024 + row * 32 + column.
        XCTAssertEqual(Int(image[0, 0, 0]), (4 * 31) % 256)
        XCTAssertEqual(Int(image[1, 2, 5]), (4 * 31 + 1024 + 2 * 32 + 5) % 256)
        XCTAssertEqual(Int(image[2, 31, 31]), (4 * 31 + 3071) % 256)
    }

    func testCIFAR10DecodeSampleScales() throws {
        let dataset = try openDataset(at: datasetFixtures.appendingPathComponent("cifar10_pickle_legacy"), split: .test)
        var buffer = [Float](repeating: -1, count: 3 * 32 * 32)

        let native = try buffer.withUnsafeMutableBufferPointer { try dataset.decodeSample(at: 1, size: nil, into: $0) }

        XCTAssertEqual(native, ImageSize(32))
        XCTAssertEqual(buffer[0], Float((11 * 31) % 256) / 255)
        XCTAssertEqual(buffer[3071], Float((11 * 31 + 3071) % 256) / 255)
    }

    func testCIFAR100Protocol2() throws {
        let directory = datasetFixtures.appendingPathComponent("cifar100_pickle_p2")

        let train = try openDataset(at: directory, split: .train)
        let test = try openDataset(at: directory, split: .test)

        XCTAssertEqual(train.count, 3)
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(train.classNames, (0..<100).map { String(format: "class%02d", $0) })
        XCTAssertEqual((0..<3).map { train.label(at: $0) }, [99, 0, 42])
        XCTAssertEqual([test.label(at: 0), test.label(at: 1)], [5, 17])
        for sample in 0..<3 {
            XCTAssertEqual(try train.image(at: sample).pixels, fixturePixels(sample: sample), "train \(sample)")
        }
        for sample in 0..<2 {
            XCTAssertEqual(try test.image(at: sample).pixels, fixturePixels(sample: 3 + sample), "test \(sample)")
        }
    }

    func testCIFAR10SubfolderRecognised() throws {
        let root = try makeTemporaryDirectory(self)
        _ = try copyFixture("cifar10_pickle_p4", to: root, as: "cifar-10-batches-py")

        let dataset = try openDataset(at: root, split: .test)

        XCTAssertEqual(dataset.count, 2)
        XCTAssertTrue(dataset.origin.contains("CIFAR-10 (Python)"), dataset.origin)
    }

    func testCIFAR100SubfolderRecognised() throws {
        let root = try makeTemporaryDirectory(self)
        _ = try copyFixture("cifar100_pickle_p2", to: root, as: "cifar-100-python")

        let dataset = try openDataset(at: root, split: .train)

        XCTAssertEqual(dataset.count, 3)
        XCTAssertTrue(dataset.origin.contains("CIFAR-100 (Python)"), dataset.origin)
    }

    func testStrKeysFromPython3() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let images = fixturePixels(sample: 20) + fixturePixels(sample: 21) + fixturePixels(sample: 22)
        let batch = PythonValue.dict([
            (.str("batch_label"), .str("testing batch 1 of 1")),
            (.str("labels"), .list([.int(9), .int(0), .int(4)])),
            (.str("data"), .array(code: "u1", shape: [3, 3072], data: images)),
        ])
        let names = (0..<10).map { PythonValue.str("name\($0)") }
        try writeFile(batch.pickled, to: directory, "test_batch")
        try writeFile(PythonValue.dict([(.str("label_names"), .list(names))]).pickled, to: directory, "batches.meta")

        let dataset = try openDataset(at: directory, split: .test)

        XCTAssertEqual(dataset.count, 3)
        XCTAssertEqual(dataset.classNames, (0..<10).map { "name\($0)" })
        XCTAssertEqual((0..<3).map { dataset.label(at: $0) }, [9, 0, 4])
        XCTAssertEqual(try dataset.image(at: 2).pixels, fixturePixels(sample: 22))
    }

    func testNumpyLabelArray() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let labels: [Int64] = [6, 2]
        let labelBytes = labels.flatMap { label in withUnsafeBytes(of: label.littleEndian) { Array($0) } }
        let images = fixturePixels(sample: 1) + fixturePixels(sample: 2)
        let batch = PythonValue.dict([
            (.bytes(Array("labels".utf8)), .array(code: "i8", shape: [2], data: labelBytes)),
            (.bytes(Array("data".utf8)), .array(code: "u1", shape: [2, 3072], data: images)),
        ])
        try writeFile(batch.pickled, to: directory, "test_batch")

        let dataset = try openDataset(at: directory, split: .test)

        XCTAssertEqual([dataset.label(at: 0), dataset.label(at: 1)], [6, 2])
        XCTAssertEqual(try dataset.image(at: 1).pixels, fixturePixels(sample: 2))
    }

    func testCIFAR10MissingMetaUsesStandardNames() throws {
        let directory = try copyFixture("cifar10_pickle_p2", to: try makeTemporaryDirectory(self), as: "cifar")
        try FileManager.default.removeItem(at: directory.appendingPathComponent("batches.meta"))

        let dataset = try openDataset(at: directory, split: .train)

        XCTAssertEqual(dataset.classNames, standardNames)
        XCTAssertEqual(dataset.count, 10)
    }

    func testCIFAR100MissingMeta() throws {
        let directory = try copyFixture("cifar100_pickle_p2", to: try makeTemporaryDirectory(self), as: "cifar")
        try FileManager.default.removeItem(at: directory.appendingPathComponent("meta"))

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        XCTAssertEqual(error, .fileMissing(path: directory.appendingPathComponent("meta").path))
    }

    func testCIFAR10MissingBatch() throws {
        let directory = try copyFixture("cifar10_pickle_legacy", to: try makeTemporaryDirectory(self), as: "cifar")
        try FileManager.default.removeItem(at: directory.appendingPathComponent("data_batch_2"))

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        XCTAssertEqual(error, .fileMissing(path: directory.appendingPathComponent("data_batch_2").path))
    }

    func testTruncatedBatch() throws {
        let directory = try copyFixture("cifar10_pickle_p2", to: try makeTemporaryDirectory(self), as: "cifar")
        let url = directory.appendingPathComponent("data_batch_3")
        let original = try Data(contentsOf: url)
        try original.prefix(original.count / 2).write(to: url)

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        guard case .malformedFile(let path, let reason)? = error else {
            return XCTFail("expected malformedFile, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("truncated"), reason)
    }

    func testCorruptBatch() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let url = directory.appendingPathComponent("test_batch")
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[2] = 0xFF
        try Data(bytes).write(to: url)

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        guard case .malformedFile(let path, let reason)? = error else {
            return XCTFail("expected malformedFile, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("not a pickle opcode"), reason)
    }

    func testBatchNotDictionary() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let url = try writeFile(PythonValue.list([.int(1)]).pickled, to: directory, "test_batch")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        guard case .malformedFile(let path, let reason)? = error else {
            return XCTFail("expected malformedFile, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("contains a list, expected a dict"), reason)
    }

    func testMissingDataEntry() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let batch = PythonValue.dict([(.str("labels"), .list([.int(1)]))])
        let url = try writeFile(batch.pickled, to: directory, "test_batch")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .malformedFile(path: url.path, reason: "the batch has no 'data' entry"))
    }

    func testWrongDataShape() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let batch = PythonValue.dict([
            (.str("labels"), .list([.int(1), .int(2)])),
            (.str("data"), .array(code: "u1", shape: [2, 3071], data: [UInt8](repeating: 0, count: 2 * 3071))),
        ])
        let url = try writeFile(batch.pickled, to: directory, "test_batch")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .malformedFile(path: url.path, reason: "'data' has shape [2, 3071], expected [N, 3072]"))
    }

    func testWrongDataType() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let batch = PythonValue.dict([
            (.str("labels"), .list([.int(1)])),
            (.str("data"), .array(code: "f4", shape: [1, 3072], data: [UInt8](repeating: 0, count: 4 * 3072))),
        ])
        let url = try writeFile(batch.pickled, to: directory, "test_batch")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .malformedFile(path: url.path, reason: "'data' has element type float32, expected uint8"))
    }

    func testLabelCountMismatch() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let images = fixturePixels(sample: 0) + fixturePixels(sample: 1)
        let batch = PythonValue.dict([
            (.bytes(Array("labels".utf8)), .list([.int(1), .int(2), .int(3)])),
            (.bytes(Array("data".utf8)), .array(code: "u1", shape: [2, 3072], data: images)),
        ])
        let url = try writeFile(batch.pickled, to: directory, "test_batch")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .malformedFile(path: url.path, reason: "'labels' has 3 labels but 'data' has 2 images"))
    }

    func testLabelOutOfRange() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let images = fixturePixels(sample: 0) + fixturePixels(sample: 1)
        let cases: [(labels: [Int], sample: Int, label: Int)] = [([3, 10], 1, 10), ([-1, 2], 0, -1)]

        for (labels, sample, label) in cases {
            let batch = PythonValue.dict([
                (.str("labels"), .list(labels.map { .int($0) })),
                (.str("data"), .array(code: "u1", shape: [2, 3072], data: images)),
            ])
            let url = try writeFile(batch.pickled, to: directory, "test_batch")

            let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

            XCTAssertEqual(error, .labelOutOfRange(path: url.path, sample: sample, label: label, classCount: 10), "\(labels)")
        }
    }

    func testCIFAR100FineLabelOutOfRange() throws {
        let directory = try copyFixture("cifar100_pickle_p2", to: try makeTemporaryDirectory(self), as: "cifar")
        let batch = PythonValue.dict([
            (.bytes(Array("fine_labels".utf8)), .list([.int(100)])),
            (.bytes(Array("coarse_labels".utf8)), .list([.int(19)])),
            (.bytes(Array("data".utf8)), .array(code: "u1", shape: [1, 3072], data: fixturePixels(sample: 0))),
        ])
        let url = try writeFile(batch.pickled, to: directory, "test")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .labelOutOfRange(path: url.path, sample: 0, label: 100, classCount: 100))
    }

    func testNonIntegerLabel() throws {
        let directory = try copyFixture("cifar10_pickle_p4", to: try makeTemporaryDirectory(self), as: "cifar")
        let batch = PythonValue.dict([
            (.str("labels"), .list([.str("cat")])),
            (.str("data"), .array(code: "u1", shape: [1, 3072], data: fixturePixels(sample: 0))),
        ])
        let url = try writeFile(batch.pickled, to: directory, "test_batch")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .malformedFile(path: url.path, reason: "'labels' entry 0 is a str, expected an int class index"))
    }

    func testWrongClassNameCount() throws {
        let directory = try copyFixture("cifar10_pickle_legacy", to: try makeTemporaryDirectory(self), as: "cifar")
        let names = (0..<9).map { PythonValue.bytes(Array("n\($0)".utf8)) }
        let url = try writeFile(
            PythonValue.dict([(.bytes(Array("label_names".utf8)), .list(names))]).pickled, to: directory, "batches.meta")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .malformedFile(path: url.path, reason: "'label_names' lists 9 class names, expected 10"))
    }
}
