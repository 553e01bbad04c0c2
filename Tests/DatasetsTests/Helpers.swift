import Foundation
import TestSupport
import XCTest

@testable import Datasets

/// The `Tests/Fixtures/datasets` directory.
let datasetFixtures = Fixtures.directory.appendingPathComponent("datasets")

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("gradscope-datasets-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock {
        try? FileManager.default.removeItem(at: url)
    }
    return url
}

/// Writes `bytes` to `directory/name`, creating folders on the way.
@discardableResult
func writeFile(_ bytes: [UInt8], to directory: URL, _ name: String) throws -> URL {
    let url = directory.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
    return url
}

/// A JSON fixture parsed as a dictionary or array.
func loadJSON(_ name: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(contentsOf: datasetFixtures.appendingPathComponent(name)))
}

/// Converts interleaved `[H, W, C]` values from a fixture to a planar image.
func planarImage(hwc values: [Int], width: Int, height: Int, channelCount: Int = 3) -> Image {
    let bytes = values.map { UInt8($0) }
    return bytes.withUnsafeBufferPointer { Image(interleaved: $0, width: width, height: height, channelCount: channelCount) }
}

/// Runs `body` and returns the `DatasetError` it throws, failing the test when it throws nothing
/// or another error.
func captureDatasetError(
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) -> DatasetError? {
    do {
        try body()
        XCTFail("expected a DatasetError, nothing was thrown", file: file, line: line)
    } catch let error as DatasetError {
        return error
    } catch {
        XCTFail("expected a DatasetError, got \(error)", file: file, line: line)
    }
    return nil
}

/// Reads every batch of a stream.
func collectBatches(_ stream: BatchStream) throws -> [Batch] {
    var batches: [Batch] = []
    while let batch = try stream.next() {
        batches.append(batch)
    }
    return batches
}
