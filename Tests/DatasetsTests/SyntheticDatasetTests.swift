import Foundation
import XCTest

@testable import Datasets

final class SyntheticDatasetTests: XCTestCase {
    func testDefaults() {
        let train = SyntheticDataset(split: .train)
        let test = SyntheticDataset(split: .test)

        XCTAssertEqual(train.count, 2_000)
        XCTAssertEqual(test.count, 500)
        XCTAssertEqual(train.uniformImageSize, ImageSize(32))
        XCTAssertEqual(train.classNames.count, 10)
        XCTAssertEqual(train.classNames[0], "circle")
        XCTAssertEqual((0..<12).map { train.label(at: $0) }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
    }

    func testDeterministic() throws {
        let configuration = SyntheticConfiguration(trainCount: 20, testCount: 20, imageSize: ImageSize(24), seed: 9)
        let first = SyntheticDataset(configuration: configuration, split: .train)
        let again = SyntheticDataset(configuration: configuration, split: .train)
        let test = SyntheticDataset(configuration: configuration, split: .test)
        var otherConfiguration = configuration
        otherConfiguration.seed = 10
        let otherSeed = SyntheticDataset(configuration: otherConfiguration, split: .train)

        XCTAssertEqual(try first.image(at: 5), try again.image(at: 5))
        XCTAssertNotEqual(try first.image(at: 5), try test.image(at: 5))
        XCTAssertNotEqual(try first.image(at: 5), try otherSeed.image(at: 5))
    }

    func testAnyResolution() throws {
        let configuration = SyntheticConfiguration(trainCount: 10, testCount: 0, imageSize: ImageSize(width: 64, height: 40))
        let dataset = SyntheticDataset(configuration: configuration, split: .train)

        let image = try dataset.image(at: 3)

        XCTAssertEqual(image.size, ImageSize(width: 64, height: 40))
        XCTAssertEqual(image.channelCount, 3)
    }

    /// Every image shows a shape: the pixels far in colour from the corner (background) pixel
    /// cover between 1% and 60% of the image.
    func testShapesAreDrawn() throws {
        let dataset = SyntheticDataset(
            configuration: SyntheticConfiguration(trainCount: 40, testCount: 0, imageSize: ImageSize(32)), split: .train)

        for index in 0..<40 {
            let image = try dataset.image(at: index)
            let planeSize = 32 * 32
            let corner = (0..<3).map { Int(image[$0, 0, 0]) }
            var farFromCorner = 0
            for position in 0..<planeSize {
                let distance = (0..<3).map { abs(Int(image.pixels[$0 * planeSize + position]) - corner[$0]) }.reduce(0, +)
                farFromCorner += distance > 150 ? 1 : 0
            }
            let fraction = Double(farFromCorner) / Double(planeSize)
            XCTAssertGreaterThan(fraction, 0.01, "sample \(index) (\(dataset.classNames[dataset.label(at: index)]))")
            XCTAssertLessThan(fraction, 0.6, "sample \(index) (\(dataset.classNames[dataset.label(at: index)]))")
        }
    }
}
