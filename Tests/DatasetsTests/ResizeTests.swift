import Foundation
import XCTest

@testable import Datasets

final class ResizeTests: XCTestCase {
    /// Pillow's bilinear resizes of fixed random images (made by make_dataset_fixtures.py).
    func testResizeMatchesPillow() throws {
        let index = try XCTUnwrap(loadJSON("resize_expected.json") as? [[String: Any]])
        let expectedBytes = try IDX.readPossiblyCompressed(datasetFixtures.appendingPathComponent("resize_expected.bin.gz"))
        let inputSizes = ["resize_input_32x32.bin": ImageSize(32), "resize_input_97x75.bin": ImageSize(width: 97, height: 75)]
        XCTAssertEqual(index.count, 6)

        for entry in index {
            let inputName = try XCTUnwrap(entry["input"] as? String)
            let width = try XCTUnwrap(entry["width"] as? Int)
            let height = try XCTUnwrap(entry["height"] as? Int)
            let offset = try XCTUnwrap(entry["offset"] as? Int)
            let inputSize = try XCTUnwrap(inputSizes[inputName])
            let inputBytes = try [UInt8](Data(contentsOf: datasetFixtures.appendingPathComponent(inputName)))
            let input = inputBytes.withUnsafeBufferPointer {
                Image(interleaved: $0, width: inputSize.width, height: inputSize.height, channelCount: 3)
            }
            let expectedSlice = Array(expectedBytes[offset..<(offset + width * height * 3)])
            let expected = planarImage(hwc: expectedSlice.map(Int.init), width: width, height: height)

            let resized = resizeBilinear(input, to: ImageSize(width: width, height: height))

            XCTAssertEqual(resized.size, ImageSize(width: width, height: height))
            var largestDifference = 0
            var differingCount = 0
            for position in 0..<expected.pixels.count {
                let difference = abs(Int(resized.pixels[position]) - Int(expected.pixels[position]))
                largestDifference = max(largestDifference, difference)
                differingCount += difference == 0 ? 0 : 1
            }
            XCTAssertLessThanOrEqual(largestDifference, 1, "\(inputName) -> \(width)x\(height)")
            XCTAssertEqual(differingCount, 0, "\(inputName) -> \(width)x\(height): bytes differing from Pillow")
        }
    }

    /// 2 -> 4 pixels by hand: centres at 0.25, 0.75, 1.25, 1.75 give weights (1), (0.75, 0.25),
    /// (0.25, 0.75) and (1) after clipping to the image and renormalising.
    func testResizeUpsamplingByHand() {
        let input = Image(width: 2, height: 1, channelCount: 1, pixels: [0, 255])

        let resized = resizeBilinear(input, to: ImageSize(width: 4, height: 1))

        XCTAssertEqual(resized.pixels, [0, 64, 191, 255])
    }

    /// 4 -> 2 pixels: the filter widens to support 2, so each output averages its window with
    /// triangle weights; pixel 0 (centre 1.0) uses inputs 0..2 with weights 0.75, 0.75, 0.25.
    func testResizeDownsamplingByHand() {
        let input = Image(width: 4, height: 1, channelCount: 1, pixels: [0, 100, 200, 40])

        let resized = resizeBilinear(input, to: ImageSize(width: 2, height: 1))

        let first = (0.75 * 0 + 0.75 * 100 + 0.25 * 200) / 1.75
        let second = (0.25 * 100 + 0.75 * 200 + 0.75 * 40) / 1.75
        XCTAssertEqual(resized.pixels, [UInt8(first.rounded()), UInt8(second.rounded())])
    }

    func testResizeSameSizeIsIdentity() {
        let input = Image(width: 3, height: 2, channelCount: 1, pixels: [1, 2, 3, 4, 5, 6])

        XCTAssertEqual(resizeBilinear(input, to: ImageSize(width: 3, height: 2)), input)
    }
}
