import Datasets
import XCTest

final class LimitSpreadTests: XCTestCase {
    /// Nine 1x1 images sorted by class: three of class 0, then three of 1, then three of 2.
    private let sorted = InMemoryDataset(
        pixels: Array(0..<9).map(UInt8.init), labels: [0, 0, 0, 1, 1, 1, 2, 2, 2], imageSize: ImageSize(1),
        channelCount: 1, classNames: ["a", "b", "c"], origin: "sorted test set")

    func testFirstSamplesByDefault() throws {
        let loader = try DataLoader(dataset: sorted, configuration: LoaderConfiguration(batchSize: 2, shuffle: false, limit: 4))
        XCTAssertEqual(loader.sampleIndices, [0, 1, 2, 3])
    }

    func testSpreadTakesEachClassInTurn() throws {
        var configuration = LoaderConfiguration(batchSize: 2, shuffle: false, limit: 5)
        configuration.limitSpreadsOverClasses = true
        let loader = try DataLoader(dataset: sorted, configuration: configuration)
        // Round 1 takes 0, 3, 6; round 2 takes 1 and 4.
        XCTAssertEqual(loader.sampleIndices, [0, 1, 3, 4, 6])
        XCTAssertEqual(Set(try loader.makeBatch(epoch: 0, batchIndex: 2).labels), [2])
    }
}
