import Foundation
import XCTest

@testable import Datasets

final class OpenDatasetTests: XCTestCase {
    func testNilPathGivesSynthetic() throws {
        let configuration = SyntheticConfiguration(trainCount: 30, testCount: 7, imageSize: ImageSize(16), seed: 3)

        let train = try openDataset(at: nil, split: .train, synthetic: configuration)
        let test = try openDataset(at: nil, split: .test, synthetic: configuration)

        XCTAssertEqual(train.count, 30)
        XCTAssertEqual(test.count, 7)
        XCTAssertTrue(train is SyntheticDataset)
    }

    func testMissingDirectory() {
        let url = URL(fileURLWithPath: "/nonexistent/gradscope-data")

        let error = captureDatasetError { _ = try openDataset(at: url, split: .train) }

        XCTAssertEqual(error, .directoryNotFound(path: url.path))
    }

    func testFileGivenAsDirectory() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("labels.txt")
        try writeFile([1, 2, 3], to: directory, "labels.txt")

        let error = captureDatasetError { _ = try openDataset(at: file, split: .train) }

        XCTAssertEqual(error, .directoryNotFound(path: file.path))
        XCTAssertTrue("\(error!)".contains("\(file.path) is a file, not a data directory"), "\(error!)")
    }

    func testUnrecognizedLayoutListsLayouts() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeFile([1, 2, 3], to: directory, "something.dat")

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .train) }

        guard case .unrecognizedLayout(let path, let lookedFor)? = error else {
            return XCTFail("expected unrecognizedLayout, got \(String(describing: error))")
        }
        XCTAssertEqual(path, directory.path)
        XCTAssertEqual(lookedFor.count, 7)
        XCTAssertTrue(error!.description.contains("data_batch_1.bin"))
        XCTAssertTrue(error!.description.contains("train-images-idx3-ubyte"))
    }

    func testClassFoldersHaveNoTestSplit() throws {
        let directory = try makeTemporaryDirectory(self)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("cat"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: datasetFixtures.appendingPathComponent("images/rgb.png"), to: directory.appendingPathComponent("cat/0.png"))

        let train = try openDataset(at: directory, split: .train)
        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(train.count, 1)
        guard case .splitNotFound(let path, let split, _)? = error else {
            return XCTFail("expected splitNotFound, got \(String(describing: error))")
        }
        XCTAssertEqual(path, directory.path)
        XCTAssertEqual(split, .test)
    }

    func testTrainOnlyFolderHasNoTestSplit() throws {
        let directory = try makeTemporaryDirectory(self)
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("train/a"), withIntermediateDirectories: true)

        let error = captureDatasetError { _ = try openDataset(at: directory, split: .test) }

        XCTAssertEqual(error, .splitNotFound(path: directory.path, split: .test, lookedFor: ["test/", "val/"]))
    }

    func testErrorMessagesNameTheProblem() {
        let error = DatasetError.invalidFileSize(path: "/d/test_batch.bin", expected: "30730000", actual: 12)

        XCTAssertEqual(
            error.description,
            "/d/test_batch.bin has 12 bytes, expected 30730000. The file is truncated or corrupted; download it again")
    }
}
