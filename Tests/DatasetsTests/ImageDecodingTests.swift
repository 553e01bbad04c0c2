import Foundation
import XCTest

@testable import Datasets

final class ImageDecodingTests: XCTestCase {
    /// Every fixture image decodes to the bytes Pillow's `convert("RGB")` gives (for 16-bit
    /// grayscale, the high byte; see make_dataset_fixtures.py).
    func testDecodeMatchesPillow() throws {
        let expected = try XCTUnwrap(loadJSON("images_expected.json") as? [String: [String: Any]])
        XCTAssertEqual(expected.count, 9)

        for (name, entry) in expected.sorted(by: { $0.key < $1.key }) {
            let width = try XCTUnwrap(entry["width"] as? Int)
            let height = try XCTUnwrap(entry["height"] as? Int)
            let values = try XCTUnwrap(entry["hwc"] as? [Int])

            let image = try decodeImageFile(datasetFixtures.appendingPathComponent("images/\(name)"))

            XCTAssertEqual(image.size, ImageSize(width: width, height: height), name)
            XCTAssertEqual(image.channelCount, 3, name)
            XCTAssertEqual(image.pixels, planarImage(hwc: values, width: width, height: height).pixels, name)
        }
    }

    func testDecodeTruncatedJPEG() throws {
        let directory = try makeTemporaryDirectory(self)
        let original = try [UInt8](Data(contentsOf: datasetFixtures.appendingPathComponent("images/photo.jpg")))
        let url = try writeFile(Array(original.prefix(original.count - 60)), to: directory, "cut.jpg")

        let error = captureDatasetError { _ = try decodeImageFile(url) }

        guard case .unreadableImage(let path, let reason)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("truncated"), reason)
    }

    func testDecodeTruncatedPNG() throws {
        let directory = try makeTemporaryDirectory(self)
        let original = try [UInt8](Data(contentsOf: datasetFixtures.appendingPathComponent("images/rgb.png")))
        let url = try writeFile(Array(original.prefix(60)), to: directory, "cut.png")

        let error = captureDatasetError { _ = try decodeImageFile(url) }

        guard case .unreadableImage(let path, _)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
    }

    func testDecodeCorruptedPNGChecksum() throws {
        let directory = try makeTemporaryDirectory(self)
        var bytes = try [UInt8](Data(contentsOf: datasetFixtures.appendingPathComponent("images/rgb.png")))
        bytes[bytes.count - 30] ^= 0xFF
        let url = try writeFile(bytes, to: directory, "bad.png")

        let error = captureDatasetError { _ = try decodeImageFile(url) }

        guard case .unreadableImage(let path, let reason)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertFalse(reason.isEmpty)
    }

    func testDecodeUnknownFormat() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = try writeFile(Array("BM not an image".utf8), to: directory, "fake.jpg")

        let error = captureDatasetError { _ = try decodeImageFile(url) }

        guard case .unreadableImage(let path, let reason)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
        XCTAssertTrue(reason.contains("neither JPEG nor PNG"), reason)
    }

    func testDecodeEmptyFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = try writeFile([], to: directory, "empty.png")

        let error = captureDatasetError { _ = try decodeImageFile(url) }

        guard case .unreadableImage(let path, _)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, url.path)
    }

    func testDecodeMissingFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("absent.png")

        let error = captureDatasetError { _ = try decodeImageFile(url) }

        XCTAssertEqual(error, .fileMissing(path: url.path))
    }
}
