import Foundation
import TestSupport
import XCTest

@testable import Datasets

final class ImageFolderTests: XCTestCase {
    private func copyFixture(_ name: String, to directory: URL, as target: String) throws {
        let destination = directory.appendingPathComponent(target)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: datasetFixtures.appendingPathComponent("images/\(name)"), to: destination)
    }

    /// train/ and test/ with classes "b_dog" and "a_cat", nested folders, upper-case extensions and ignored files.
    private func makeFolders() throws -> URL {
        let root = try makeTemporaryDirectory(self)
        try copyFixture("photo.jpg", to: root, as: "train/b_dog/2.JPG")
        try copyFixture("rgb.png", to: root, as: "train/b_dog/10.png")
        try copyFixture("gray.png", to: root, as: "train/b_dog/sub/1.png")
        try copyFixture("palette.png", to: root, as: "train/a_cat/x.jpeg")
        try writeFile(Array("notes".utf8), to: root, "train/a_cat/readme.txt")
        try writeFile(Array("labels".utf8), to: root, "train/labels.csv")
        try copyFixture("rgba.png", to: root, as: "test/a_cat/0.png")
        try copyFixture("gray.jpg", to: root, as: "test/b_dog/0.jpg")
        return root
    }

    func testOrderMatchesTorchvision() throws {
        let root = try makeFolders()

        let train = try XCTUnwrap(try openDataset(at: root, split: .train) as? ImageFolderDataset)

        XCTAssertEqual(train.classNames, ["a_cat", "b_dog"])
        XCTAssertEqual(train.count, 4)
        // Python's sorted order: "10.png" < "2.JPG" (code points), and the folder b_dog before b_dog/sub.
        let names = (0..<4).map { train.path(at: $0).replacingOccurrences(of: root.path + "/train/", with: "") }
        XCTAssertEqual(names, ["a_cat/x.jpeg", "b_dog/10.png", "b_dog/2.JPG", "b_dog/sub/1.png"])
        XCTAssertEqual((0..<4).map { train.label(at: $0) }, [0, 1, 1, 1])
        XCTAssertNil(train.uniformImageSize)
    }

    func testImagesDecodeLikePillow() throws {
        let root = try makeFolders()
        let expected = try XCTUnwrap(loadJSON("images_expected.json") as? [String: [String: Any]])
        let train = try openDataset(at: root, split: .train)
        let test = try openDataset(at: root, split: .test)
        let cases: [(Dataset, Int, String)] = [(train, 0, "palette.png"), (train, 2, "photo.jpg"), (test, 0, "rgba.png"), (test, 1, "gray.jpg")]

        for (dataset, index, name) in cases {
            let entry = try XCTUnwrap(expected[name])
            let width = try XCTUnwrap(entry["width"] as? Int)
            let height = try XCTUnwrap(entry["height"] as? Int)
            let values = try XCTUnwrap(entry["hwc"] as? [Int])

            let image = try dataset.image(at: index)

            XCTAssertEqual(image, planarImage(hwc: values, width: width, height: height), name)
        }
    }

    func testValFolderServesTest() throws {
        let root = try makeTemporaryDirectory(self)
        try copyFixture("rgb.png", to: root, as: "train/a/0.png")
        try copyFixture("rgb.png", to: root, as: "val/a/0.png")

        let test = try openDataset(at: root, split: .test)

        XCTAssertEqual(test.count, 1)
        XCTAssertEqual((test as? ImageFolderDataset)?.root.lastPathComponent, "val")
    }

    func testEmptyClassFolder() throws {
        let root = try makeTemporaryDirectory(self)
        try copyFixture("rgb.png", to: root, as: "train/a/0.png")
        try writeFile(Array("x".utf8), to: root, "train/b/notes.txt")

        let error = captureDatasetError { _ = try openDataset(at: root, split: .train) }

        XCTAssertEqual(error, .emptyClassFolder(path: root.appendingPathComponent("train/b").path))
    }

    func testUnsupportedFormatRejected() throws {
        let root = try makeTemporaryDirectory(self)
        try copyFixture("rgb.png", to: root, as: "train/a/0.png")
        let bitmap = try writeFile([0x42, 0x4D, 0, 0], to: root, "train/a/1.bmp")

        let error = captureDatasetError { _ = try openDataset(at: root, split: .train) }

        guard case .unreadableImage(let path, _)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, bitmap.path)
    }

    func testCorruptImageNamesFile() throws {
        let root = try makeTemporaryDirectory(self)
        let broken = try writeFile(Array("not a png".utf8), to: root, "train/a/0.png")
        let dataset = try openDataset(at: root, split: .train)

        let error = captureDatasetError { _ = try dataset.image(at: 0) }

        guard case .unreadableImage(let path, _)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, broken.path)
    }

    /// The real CIFAR-10 JPEG folder has 50,000 training and 10,000 test images in 10 classes. Its
    /// first training image decodes to the bytes Pillow produced (recorded by make_dataset_fixtures.py).
    func testRealCIFAR10JPEG() throws {
        guard let directory = Fixtures.cifar10JPEGDirectory else {
            throw XCTSkip("skipped: the CIFAR-10 JPEG folder (shared/data/cifar10-jpeg) is not on this machine")
        }
        let record = try XCTUnwrap(loadJSON("cifar10_jpeg_first_train.json") as? [String: Any])
        let values = try XCTUnwrap(record["hwc"] as? [Int])

        let train = try XCTUnwrap(try openDataset(at: directory, split: .train) as? ImageFolderDataset)
        let test = try openDataset(at: directory, split: .test)

        XCTAssertEqual(train.count, 50_000)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(train.classNames, cifar10ClassNames)
        XCTAssertEqual(test.classNames, cifar10ClassNames)
        XCTAssertEqual(train.path(at: 0), directory.appendingPathComponent("train/airplane/0000.jpg").path)
        XCTAssertEqual(train.label(at: 49_999), 9)
        XCTAssertEqual(try train.image(at: 0), planarImage(hwc: values, width: 32, height: 32))
    }
}
