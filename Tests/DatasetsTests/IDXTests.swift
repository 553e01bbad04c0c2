import Foundation
import XCTest

@testable import Datasets

final class IDXTests: XCTestCase {
    private func idx(_ dimensions: [Int], _ values: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
        for size in dimensions {
            bytes += [UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)]
        }
        return bytes + values
    }

    /// The formula make_dataset_fixtures.py uses for the gzip fixtures: `(n * 20 + r * 5 + c) * 3 % 256`.
    private func fixturePixel(_ n: Int, _ r: Int, _ c: Int) -> UInt8 {
        UInt8((n * 20 + r * 5 + c) * 3 % 256)
    }

    func testRawFilesReadBack() throws {
        let directory = try makeTemporaryDirectory(self)
        let pixels = (0..<(2 * 3 * 4)).map { UInt8($0 * 9 % 256) }
        try writeFile(idx([2, 3, 4], pixels), to: directory, "t10k-images-idx3-ubyte")
        try writeFile(idx([2], [7, 0]), to: directory, "t10k-labels-idx1-ubyte")

        let dataset = try openDataset(at: directory, split: .test)

        XCTAssertEqual(dataset.count, 2)
        XCTAssertEqual(dataset.channelCount, 1)
        XCTAssertEqual(dataset.uniformImageSize, ImageSize(width: 4, height: 3))
        XCTAssertEqual(dataset.classNames[7], "7 - seven")
        XCTAssertEqual([dataset.label(at: 0), dataset.label(at: 1)], [7, 0])
        XCTAssertEqual(try dataset.image(at: 1).pixels, Array(pixels[12..<24]))
    }

    func testGzipFilesReadBack() throws {
        let root = try makeTemporaryDirectory(self)
        let raw = root.appendingPathComponent("FashionMNIST/raw")
        try FileManager.default.createDirectory(at: raw, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(
                at: datasetFixtures.appendingPathComponent("mnist_gz/\(name)"), to: raw.appendingPathComponent(name))
        }

        let train = try openDataset(at: root, split: .train)
        let test = try openDataset(at: root, split: .test)

        XCTAssertEqual(train.count, 3)
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(train.classNames[9], "Ankle boot")
        XCTAssertEqual((0..<3).map { train.label(at: $0) }, [3, 1, 4])
        XCTAssertEqual([test.label(at: 0), test.label(at: 1)], [5, 9])
        let image = try train.image(at: 2)
        XCTAssertEqual(image.size, ImageSize(width: 5, height: 4))
        for row in 0..<4 {
            for column in 0..<5 {
                XCTAssertEqual(image[0, row, column], fixturePixel(2, row, column), "row \(row), column \(column)")
            }
        }
    }

    func testGrayscaleReplication() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeFile(idx([1, 2, 2], [0, 51, 102, 255]), to: directory, "train-images-idx3-ubyte")
        try writeFile(idx([1], [1]), to: directory, "train-labels-idx1-ubyte")
        let dataset = try openDataset(at: directory, split: .train)
        let transform = ImageTransform(replicatesGrayscale: true)
        var output = [Float](repeating: -1, count: 12)

        output.withUnsafeMutableBufferPointer { buffer in
            transform.writeTensorValues(of: try! dataset.image(at: 0), to: buffer.baseAddress!)
        }

        XCTAssertEqual(transform.outputChannelCount(forInput: 1), 3)
        let plane: [Float] = [0, 0.2, 0.4, 1]
        XCTAssertEqual(output, plane + plane + plane)
    }

    func testBadMagic() throws {
        let directory = try makeTemporaryDirectory(self)
        var bytes = idx([1, 2, 2], [1, 2, 3, 4])
        bytes[2] = 0x0D
        let url = try writeFile(bytes, to: directory, "train-images-idx3-ubyte")
        try writeFile(idx([1], [1]), to: directory, "train-labels-idx1-ubyte")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        guard case .malformedFile(let path, let reason)? = error else {
            return XCTFail("expected malformedFile, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("00 00 0d 03"), reason)
    }

    func testTruncatedImages() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = try writeFile(idx([2, 2, 2], [1, 2, 3, 4, 5]), to: directory, "train-images-idx3-ubyte")
        try writeFile(idx([2], [1, 2]), to: directory, "train-labels-idx1-ubyte")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        guard case .invalidFileSize(let path, let expected, let actual)? = error else {
            return XCTFail("expected invalidFileSize, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertEqual(actual, 21)
        XCTAssertTrue(expected.hasPrefix("24 "), expected)
    }

    func testTruncatedGzip() throws {
        let directory = try makeTemporaryDirectory(self)
        let compressed = try [UInt8](Data(contentsOf: datasetFixtures.appendingPathComponent("mnist_gz/train-images-idx3-ubyte.gz")))
        let url = try writeFile(Array(compressed.prefix(compressed.count - 12)), to: directory, "train-images-idx3-ubyte.gz")
        try FileManager.default.copyItem(
            at: datasetFixtures.appendingPathComponent("mnist_gz/train-labels-idx1-ubyte.gz"),
            to: directory.appendingPathComponent("train-labels-idx1-ubyte.gz"))

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        switch error {
        case .malformedFile(let path, _)?, .invalidFileSize(let path, _, _)?:
            XCTAssertEqual(path, url.path)
        default:
            XCTFail("expected malformedFile or invalidFileSize, got \(String(describing: error))")
        }
    }

    func testCountMismatch() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeFile(idx([2, 1, 1], [1, 2]), to: directory, "train-images-idx3-ubyte")
        let url = try writeFile(idx([3], [1, 2, 3]), to: directory, "train-labels-idx1-ubyte")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        guard case .malformedFile(let path, let reason)? = error else {
            return XCTFail("expected malformedFile, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("3 labels"), reason)
    }

    func testLabelOutOfRange() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeFile(idx([2, 1, 1], [1, 2]), to: directory, "train-images-idx3-ubyte")
        let url = try writeFile(idx([2], [1, 12]), to: directory, "train-labels-idx1-ubyte")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        XCTAssertEqual(error, .labelOutOfRange(path: url.path, sample: 1, label: 12, classCount: 10))
    }
}
