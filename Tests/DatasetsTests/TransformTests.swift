import Foundation
import Tensors
import XCTest

@testable import Datasets

final class TransformTests: XCTestCase {
    /// A 1-channel 3x2 image with pixels 1...6, row by row.
    private let small = Image(width: 3, height: 2, channelCount: 1, pixels: [1, 2, 3, 4, 5, 6])

    func testFlipHorizontally() {
        XCTAssertEqual(small.flippedHorizontally().pixels, [3, 2, 1, 6, 5, 4])
    }

    func testCropWithPadding() {
        // Padded by 1 the image is 5x4; the 3x2 window at top 0, left 2 contains (0 0 0 / 2 3 0).
        XCTAssertEqual(small.cropped(toSize: small.size, top: 0, left: 2, padding: 1).pixels, [0, 0, 0, 2, 3, 0])
        XCTAssertEqual(small.cropped(toSize: small.size, top: 1, left: 1, padding: 1).pixels, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(small.cropped(toSize: small.size, top: 2, left: 0, padding: 1).pixels, [0, 4, 5, 0, 0, 0])
    }

    func testNormalize() {
        let image = Image(width: 2, height: 1, channelCount: 3, pixels: [0, 255, 51, 102, 255, 0])
        let transform = ImageTransform(mean: [0.5, 0.25, 0.5], standardDeviation: [0.5, 0.25, 2])
        var output = [Float](repeating: 0, count: 6)

        output.withUnsafeMutableBufferPointer { transform.writeTensorValues(of: image, to: $0.baseAddress!) }

        let expected: [Float] = [
            (0 - 0.5) / 0.5, (1 - 0.5) / 0.5,
            (Float(51) / 255 - 0.25) / 0.25, (Float(102) / 255 - 0.25) / 0.25,
            (1 - 0.5) / 2, (0 - 0.5) / 2,
        ]
        XCTAssertEqual(output, expected)
    }

    func testRandomGeometryIsSeeded() {
        let image = Image(width: 4, height: 4, channelCount: 1, pixels: (0..<16).map(UInt8.init))
        let transform = ImageTransform(cropPadding: 2, randomHorizontalFlip: true)
        var results: [[UInt8]] = []

        for seed: UInt64 in [1, 1, 2, 3, 4, 5] {
            var generator = RandomGenerator(seed: seed)
            results.append(transform.applyGeometry(to: image, generator: &generator).pixels)
        }

        XCTAssertEqual(results[0], results[1])
        XCTAssertGreaterThan(Set(results).count, 2)
    }

    func testRandomCropCoversAllOffsets() {
        // With padding 1 the crop offsets take 3 x 3 values; every one should appear over many seeds.
        let image = Image(width: 2, height: 2, channelCount: 1, pixels: [1, 2, 3, 4])
        let transform = ImageTransform(cropPadding: 1)
        var seen = Set<[UInt8]>()

        for seed in 0..<200 {
            var generator = RandomGenerator(seed: UInt64(seed))
            seen.insert(transform.applyGeometry(to: image, generator: &generator).pixels)
        }

        XCTAssertEqual(seen.count, 9)
    }

    func testDecodeSampleResizes() throws {
        let dataset = SyntheticDataset(
            configuration: SyntheticConfiguration(trainCount: 1, testCount: 0, imageSize: ImageSize(8)), split: .train)
        var buffer = [Float](repeating: 0, count: 3 * 12 * 10)

        let native = try buffer.withUnsafeMutableBufferPointer {
            try dataset.decodeSample(at: 0, size: ImageSize(width: 10, height: 12), into: $0)
        }

        let resized = resizeBilinear(try dataset.image(at: 0), to: ImageSize(width: 10, height: 12))
        XCTAssertEqual(native, ImageSize(8))
        XCTAssertEqual(buffer, resized.pixels.map { Float($0) / 255 })
    }

    func testDecodeSampleWrongBuffer() throws {
        let dataset = SyntheticDataset(
            configuration: SyntheticConfiguration(trainCount: 1, testCount: 0, imageSize: ImageSize(8)), split: .train)
        var buffer = [Float](repeating: 0, count: 10)

        let error = captureDatasetError {
            _ = try buffer.withUnsafeMutableBufferPointer { try dataset.decodeSample(at: 0, size: nil, into: $0) }
        }

        guard case .imageSizeMismatch(_, let index, _, _)? = error else {
            return XCTFail("expected imageSizeMismatch, got \(String(describing: error))")
        }
        XCTAssertEqual(index, 0)
    }
}
