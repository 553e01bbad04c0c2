import Foundation
import Tensors
import XCTest

@testable import Datasets

final class DataLoaderTests: XCTestCase {
    private func synthetic(_ count: Int, side: Int = 8) -> SyntheticDataset {
        SyntheticDataset(
            configuration: SyntheticConfiguration(trainCount: count, testCount: 0, imageSize: ImageSize(side), seed: 4),
            split: .train)
    }

    private func indices(_ batches: [Batch]) -> [Int] {
        batches.flatMap(\.indices)
    }

    func testSameSeedSameOrder() throws {
        let dataset = synthetic(50)
        let first = try DataLoader(dataset: dataset, configuration: LoaderConfiguration(batchSize: 8, seed: 7))
        let second = try DataLoader(dataset: dataset, configuration: LoaderConfiguration(batchSize: 8, seed: 7))

        let order = first.sampleOrder(epoch: 3)

        XCTAssertEqual(order, second.sampleOrder(epoch: 3))
        XCTAssertEqual(order.sorted(), Array(0..<50))
        XCTAssertNotEqual(order, Array(0..<50))
        XCTAssertNotEqual(order, first.sampleOrder(epoch: 4))
        XCTAssertEqual(indices(try collectBatches(first.batches(epoch: 3))), order)
    }

    func testDifferentSeedDifferentOrder() throws {
        let dataset = synthetic(50)
        let first = try DataLoader(dataset: dataset, configuration: LoaderConfiguration(batchSize: 8, seed: 7))
        let second = try DataLoader(dataset: dataset, configuration: LoaderConfiguration(batchSize: 8, seed: 8))

        XCTAssertNotEqual(first.sampleOrder(epoch: 0), second.sampleOrder(epoch: 0))
    }

    func testNoShuffleKeepsOrder() throws {
        let loader = try DataLoader(dataset: synthetic(10), configuration: LoaderConfiguration(batchSize: 4, shuffle: false))

        let batches = try collectBatches(loader.batches(epoch: 2))

        XCTAssertEqual(batches.map(\.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(batches.map(\.batchIndex), [0, 1, 2])
        XCTAssertEqual(batches[2].images.shape, [2, 3, 8, 8])
        XCTAssertEqual(batches[1].labels, [4, 5, 6, 7])
    }

    func testDropLast() throws {
        let loader = try DataLoader(
            dataset: synthetic(10), configuration: LoaderConfiguration(batchSize: 4, seed: 1, dropLast: true))

        let batches = try collectBatches(loader.batches(epoch: 0))

        XCTAssertEqual(loader.batchCount, 2)
        XCTAssertEqual(batches.count, 2)
        XCTAssertEqual(batches.map { $0.indices.count }, [4, 4])
    }

    func testLimitUsesFirstSamples() throws {
        let loader = try DataLoader(dataset: synthetic(40), configuration: LoaderConfiguration(batchSize: 3, seed: 5, limit: 7))

        let seen = indices(try collectBatches(loader.batches(epoch: 0)))

        XCTAssertEqual(loader.sampleCount, 7)
        XCTAssertEqual(loader.batchCount, 3)
        XCTAssertEqual(seen.sorted(), Array(0..<7))
    }

    func testMidEpochStart() throws {
        let loader = try DataLoader(dataset: synthetic(30), configuration: LoaderConfiguration(batchSize: 4, seed: 2))
        let full = try collectBatches(loader.batches(epoch: 6))

        let resumed = try collectBatches(loader.batches(epoch: 6, startingAt: 5))

        XCTAssertEqual(resumed.map(\.batchIndex), [5, 6, 7])
        XCTAssertEqual(resumed.map(\.indices), full[5...].map(\.indices))
        XCTAssertEqual(resumed.map(\.images.scalars), full[5...].map(\.images.scalars))
        XCTAssertTrue(try collectBatches(loader.batches(epoch: 6, startingAt: 8)).isEmpty)
    }

    /// Batch values equal the transform applied to each sample with its own seeded generator,
    /// so the result does not depend on which thread decoded it.
    func testBatchContentsMatchTransform() throws {
        let dataset = synthetic(9, side: 12)
        let transform = ImageTransform(
            size: ImageSize(16), cropPadding: 2, randomHorizontalFlip: true,
            mean: ImageTransform.cifar10Mean, standardDeviation: ImageTransform.cifar10StandardDeviation)
        let configuration = LoaderConfiguration(batchSize: 4, seed: 11, transform: transform, decodingThreadCount: 3)
        let loader = try DataLoader(dataset: dataset, configuration: configuration)
        let singleThreaded = try DataLoader(
            dataset: dataset,
            configuration: LoaderConfiguration(batchSize: 4, seed: 11, transform: transform, decodingThreadCount: 1))

        let batch = try loader.makeBatch(epoch: 1, batchIndex: 1)

        XCTAssertEqual(batch.images.shape, [4, 3, 16, 16])
        XCTAssertEqual(batch.images.scalars, try singleThreaded.makeBatch(epoch: 1, batchIndex: 1).images.scalars)
        for (position, index) in batch.indices.enumerated() {
            var generator = RandomGenerator(seed: mixSeed(11, 1, UInt64(index), 0x4155_474D))
            let image = transform.applyGeometry(to: try dataset.image(at: index), generator: &generator)
            var expected = [Float](repeating: 0, count: 3 * 16 * 16)
            expected.withUnsafeMutableBufferPointer { transform.writeTensorValues(of: image, to: $0.baseAddress!) }
            let start = position * expected.count
            XCTAssertEqual(Array(batch.images.scalars[start..<(start + expected.count)]), expected, "sample \(index)")
            XCTAssertEqual(batch.labels[position], dataset.label(at: index))
        }
    }

    func testGrayscaleReplicated() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeFile([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 10, 20, 30, 40], to: directory, "train-images-idx3-ubyte")
        try writeFile([0, 0, 8, 1, 0, 0, 0, 2, 3, 4], to: directory, "train-labels-idx1-ubyte")
        let dataset = try openDataset(at: directory, split: .train)
        let loader = try DataLoader(
            dataset: dataset,
            configuration: LoaderConfiguration(batchSize: 2, shuffle: false, transform: ImageTransform(replicatesGrayscale: true)))

        let batch = try loader.makeBatch(epoch: 0, batchIndex: 0)

        XCTAssertEqual(loader.sampleShape, [3, 1, 2])
        let first: [Float] = [10, 20].map { Float($0) / 255 }
        let second: [Float] = [30, 40].map { Float($0) / 255 }
        XCTAssertEqual(batch.images.scalars, first + first + first + second + second + second)
        XCTAssertEqual(batch.labels, [3, 4])
    }

    func testDecodingErrorReachesConsumer() throws {
        let root = try makeTemporaryDirectory(self)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: datasetFixtures.appendingPathComponent("images/rgb.png"), to: root.appendingPathComponent("a/0.png"))
        let broken = try writeFile(Array("garbage".utf8), to: root, "a/1.png")
        let dataset = try ImageFolderDataset(root: root)
        let loader = try DataLoader(dataset: dataset, configuration: LoaderConfiguration(batchSize: 1, shuffle: false))
        let stream = loader.batches(epoch: 0)

        let first = try stream.next()
        let error = captureDatasetError { _ = try stream.next() }

        XCTAssertEqual(first?.indices, [0])
        guard case .unreadableImage(let path, _)? = error else {
            return XCTFail("expected unreadableImage, got \(String(describing: error))")
        }
        XCTAssertEqual(path, broken.path)
        XCTAssertNil(try stream.next())
    }

    func testMixedSizesNeedResize() throws {
        let root = try makeTemporaryDirectory(self)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: datasetFixtures.appendingPathComponent("images/rgb.png"), to: root.appendingPathComponent("a/0.png"))
        try FileManager.default.copyItem(
            at: datasetFixtures.appendingPathComponent("images/photo.jpg"), to: root.appendingPathComponent("a/1.jpg"))
        let dataset = try ImageFolderDataset(root: root)
        let native = try DataLoader(dataset: dataset, configuration: LoaderConfiguration(batchSize: 2, shuffle: false))
        let resized = try DataLoader(
            dataset: dataset,
            configuration: LoaderConfiguration(batchSize: 2, shuffle: false, transform: ImageTransform(size: ImageSize(6))))

        let error = captureDatasetError { _ = try native.makeBatch(epoch: 0, batchIndex: 0) }
        let batch = try resized.makeBatch(epoch: 0, batchIndex: 0)

        guard case .imageSizeMismatch(_, let index, _, _)? = error else {
            return XCTFail("expected imageSizeMismatch, got \(String(describing: error))")
        }
        XCTAssertEqual(index, 1)
        XCTAssertEqual(batch.images.shape, [2, 3, 6, 6])
    }

    func testCancelStopsStream() throws {
        let loader = try DataLoader(dataset: synthetic(100), configuration: LoaderConfiguration(batchSize: 2, prefetchCount: 1))
        let stream = loader.batches(epoch: 0)

        XCTAssertNotNil(try stream.next())
        stream.cancel()

        XCTAssertNil(try stream.next())
    }
}
