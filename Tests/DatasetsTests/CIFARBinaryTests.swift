import Foundation
import XCTest

@testable import Datasets

final class CIFARBinaryTests: XCTestCase {
    /// Pixel `k` of sample `s` (counted across files) is `(s * 7 + k) % 256`.
    private func record(sample: Int, labels: [UInt8]) -> [UInt8] {
        labels + (0..<3072).map { UInt8((sample * 7 + $0) % 256) }
    }

    /// Writes a CIFAR-10 binary directory with `perBatch` samples per training file and 2 test samples.
    private func writeCIFAR10(in directory: URL, perBatch: Int = 2) throws {
        var sample = 0
        for batch in 1...5 {
            var bytes: [UInt8] = []
            for _ in 0..<perBatch {
                bytes += record(sample: sample, labels: [UInt8(sample % 10)])
                sample += 1
            }
            try writeFile(bytes, to: directory, "data_batch_\(batch).bin")
        }
        try writeFile(record(sample: 100, labels: [9]) + record(sample: 101, labels: [4]), to: directory, "test_batch.bin")
        let names = "plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"
        try writeFile(Array(names.utf8), to: directory, "batches.meta.txt")
    }

    func testCIFAR10ReadsBack() throws {
        let root = try makeTemporaryDirectory(self)
        let directory = root.appendingPathComponent("cifar-10-batches-bin")
        try writeCIFAR10(in: directory)

        let train = try openDataset(at: root, split: .train)
        let test = try openDataset(at: directory, split: .test)

        XCTAssertEqual(train.count, 10)
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(train.classNames.first, "plane")
        XCTAssertEqual(train.classNames.count, 10)
        XCTAssertEqual(train.channelCount, 3)
        XCTAssertEqual((0..<10).map { train.label(at: $0) }, Array(0..<10))
        XCTAssertEqual([test.label(at: 0), test.label(at: 1)], [9, 4])
        let image = try train.image(at: 7)
        XCTAssertEqual(image.size, ImageSize(32))
        XCTAssertEqual(image.pixels, Array(record(sample: 7, labels: []).prefix(3072)))
        let expectedByte = (7 * 7 + 2048 + 32 + 3) % 256
        XCTAssertEqual(Int(image[2, 1, 3]), expectedByte)
        XCTAssertEqual(try test.image(at: 1).pixels, record(sample: 101, labels: []))
    }

    func testCIFAR10DecodeSampleScales() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeCIFAR10(in: directory)
        let dataset = try openDataset(at: directory, split: .test)
        var buffer = [Float](repeating: -1, count: 3 * 32 * 32)

        let native = try buffer.withUnsafeMutableBufferPointer { try dataset.decodeSample(at: 0, size: nil, into: $0) }

        XCTAssertEqual(native, ImageSize(32))
        XCTAssertEqual(buffer[0], Float((100 * 7) % 256) / 255)
        XCTAssertEqual(buffer[3071], Float((100 * 7 + 3071) % 256) / 255)
    }

    func testCIFAR10TruncatedFile() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeCIFAR10(in: directory)
        let url = try writeFile(record(sample: 0, labels: [1]) + [1, 2, 3], to: directory, "test_batch.bin")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        guard case .invalidFileSize(let path, let expected, let actual)? = error else {
            return XCTFail("expected invalidFileSize, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertEqual(actual, 3076)
        XCTAssertTrue(expected.contains("3073"), expected)
        XCTAssertTrue(expected.contains("6146"), expected)
    }

    func testCIFAR10MissingBatch() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeCIFAR10(in: directory)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("data_batch_4.bin"))

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        XCTAssertEqual(error, .fileMissing(path: directory.appendingPathComponent("data_batch_4.bin").path))
    }

    func testCIFAR10LabelOutOfRange() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeCIFAR10(in: directory)
        let url = try writeFile(record(sample: 0, labels: [3]) + record(sample: 1, labels: [10]), to: directory, "test_batch.bin")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .labelOutOfRange(path: url.path, sample: 1, label: 10, classCount: 10))
    }

    func testCIFAR10BadClassNames() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeCIFAR10(in: directory)
        let url = try writeFile(Array("a\nb\n".utf8), to: directory, "batches.meta.txt")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        guard case .malformedFile(let path, let reason)? = error else {
            return XCTFail("expected malformedFile, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("2 class names, expected 10"), reason)
    }

    func testCIFAR100FineLabels() throws {
        let root = try makeTemporaryDirectory(self)
        let directory = root.appendingPathComponent("cifar-100-binary")
        try writeFile(record(sample: 0, labels: [19, 99]) + record(sample: 1, labels: [0, 42]), to: directory, "train.bin")
        try writeFile(record(sample: 2, labels: [3, 17]), to: directory, "test.bin")
        let names = (0..<100).map { "fine\($0)" }.joined(separator: "\n")
        try writeFile(Array(names.utf8), to: directory, "fine_label_names.txt")

        let train = try openDataset(at: root, split: .train)
        let test = try openDataset(at: root, split: .test)

        XCTAssertEqual(train.count, 2)
        XCTAssertEqual(train.classNames.count, 100)
        XCTAssertEqual(train.classNames[42], "fine42")
        XCTAssertEqual([train.label(at: 0), train.label(at: 1)], [99, 42])
        XCTAssertEqual(test.label(at: 0), 17)
        XCTAssertEqual(try train.image(at: 1).pixels, record(sample: 1, labels: []))
    }

    func testCIFAR100TruncatedFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = try writeFile(Array(record(sample: 0, labels: [1, 2]).prefix(3000)), to: directory, "test.bin")
        try writeFile(Array((0..<100).map { "c\($0)" }.joined(separator: "\n").utf8), to: directory, "fine_label_names.txt")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        guard case .invalidFileSize(let path, let expected, let actual)? = error else {
            return XCTFail("expected invalidFileSize, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertEqual(actual, 3000)
        XCTAssertTrue(expected.contains("3074"), expected)
    }
}
