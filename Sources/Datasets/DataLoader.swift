import Dispatch
import Foundation
import Tensors

/// A batch of preprocessed samples.
public struct Batch {
    /// `[N, C, H, W]` network input.
    public let images: Tensor
    /// Class labels, one per sample.
    public let labels: [Int]
    /// Dataset indices of the samples, in batch order.
    public let indices: [Int]
    /// The epoch this batch belongs to.
    public let epoch: Int
    /// The batch's position within its epoch, from 0.
    public let batchIndex: Int
}

/// The ordering, batching and preprocessing settings of a `DataLoader`.
public struct LoaderConfiguration: Sendable, Equatable {
    /// Samples per batch.
    public var batchSize: Int
    /// Whether each epoch visits the samples in a new random order.
    public var shuffle: Bool
    /// Seed for the order of every epoch and for the random transforms.
    public var seed: UInt64
    /// Whether to leave out a last batch smaller than `batchSize`.
    public var dropLast: Bool
    /// Use only the first `limit` samples of the data set (before shuffling); nil uses all.
    public var limit: Int?
    /// With `limit`: take the samples from each class in turn (the first of every class, then the
    /// second, ...) instead of the first `limit`, so that a class-sorted data set keeps every class.
    public var limitSpreadsOverClasses = false
    /// Per-sample preprocessing.
    public var transform: ImageTransform
    /// Batches the worker thread prepares ahead of the consumer.
    public var prefetchCount: Int
    /// Threads that decode the samples of one batch in parallel.
    public var decodingThreadCount: Int

    public init(
        batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false, limit: Int? = nil,
        transform: ImageTransform = ImageTransform(), prefetchCount: Int = 2,
        decodingThreadCount: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        precondition(batchSize > 0, "LoaderConfiguration: batchSize must be > 0, got \(batchSize)")
        precondition(limit.map { $0 >= 0 } ?? true, "LoaderConfiguration: limit must be >= 0, got \(limit!)")
        precondition(prefetchCount > 0, "LoaderConfiguration: prefetchCount must be > 0, got \(prefetchCount)")
        precondition(decodingThreadCount > 0, "LoaderConfiguration: decodingThreadCount must be > 0, got \(decodingThreadCount)")
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        self.limit = limit
        self.transform = transform
        self.prefetchCount = prefetchCount
        self.decodingThreadCount = decodingThreadCount
    }
}

/// Splits a data set into batches of preprocessed tensors, decoding on a background thread.
///
/// Epoch `e`'s order is a permutation drawn from a generator seeded by `(seed, e)` alone, and each
/// sample's random transforms from `(seed, e, dataset index)`. A resumed run therefore recreates
/// any epoch, and `batches(epoch:startingAt:)` can start in its middle.
public final class DataLoader: @unchecked Sendable {
    public let dataset: Dataset
    public let configuration: LoaderConfiguration

    /// Samples used per epoch: the data set's count, capped by `limit`.
    public let sampleCount: Int

    /// The data set indices used, in data set order.
    public let sampleIndices: [Int]

    /// Shape of one preprocessed sample, `[C, H, W]`.
    public let sampleShape: [Int]

    /// Creates a loader. When neither the transform nor the data set fixes the image size, the
    /// first image is decoded to learn it, and every other image must then match it.
    /// - Throws: `DatasetError` when that first image cannot be decoded.
    public init(dataset: Dataset, configuration: LoaderConfiguration) throws {
        self.dataset = dataset
        self.configuration = configuration
        self.sampleCount = min(dataset.count, configuration.limit ?? dataset.count)
        if configuration.limitSpreadsOverClasses && sampleCount < dataset.count {
            sampleIndices = DataLoader.indicesSpreadOverClasses(dataset, count: sampleCount)
        } else {
            sampleIndices = Array(0..<sampleCount)
        }

        var size = configuration.transform.size ?? dataset.uniformImageSize
        if size == nil && dataset.count > 0 {
            size = try dataset.image(at: 0).size
        }
        let channels = configuration.transform.outputChannelCount(forInput: dataset.channelCount)
        let outputSize = size ?? ImageSize(1)
        self.sampleShape = [channels, outputSize.height, outputSize.width]
    }

    /// Batches per epoch, counting a smaller last batch unless `dropLast` is set.
    public var batchCount: Int {
        let batchSize = configuration.batchSize
        return configuration.dropLast ? sampleCount / batchSize : (sampleCount + batchSize - 1) / batchSize
    }

    /// `count` indices taken from each class in turn, returned in data set order.
    static func indicesSpreadOverClasses(_ dataset: Dataset, count: Int) -> [Int] {
        var byClass = [[Int]](repeating: [], count: max(dataset.classCount, 1))
        for index in 0..<dataset.count {
            byClass[dataset.label(at: index)].append(index)
        }
        var chosen: [Int] = []
        var round = 0
        while chosen.count < count {
            for members in byClass where round < members.count && chosen.count < count {
                chosen.append(members[round])
            }
            round += 1
        }
        return chosen.sorted()
    }

    /// Returns the data set indices of one epoch in visiting order. The order is a seeded
    /// Fisher-Yates shuffle of `sampleIndices`, or those indices in order when shuffling is off.
    public func sampleOrder(epoch: Int) -> [Int] {
        var order = sampleIndices
        guard configuration.shuffle else {
            return order
        }

        var generator = RandomGenerator(seed: mixSeed(configuration.seed, UInt64(bitPattern: Int64(epoch)), 0x5348_5546))
        for position in stride(from: order.count - 1, to: 0, by: -1) {
            let other = uniformInteger(below: position + 1, generator: &generator)
            order.swapAt(position, other)
        }
        return order
    }

    /// Builds batch `batchIndex` of `epoch` on the calling thread (decoding still uses
    /// `decodingThreadCount` threads).
    /// - Throws: `DatasetError` when a sample cannot be decoded or has the wrong size.
    public func makeBatch(epoch: Int, batchIndex: Int) throws -> Batch {
        precondition(
            batchIndex >= 0 && batchIndex < batchCount, "makeBatch: batchIndex \(batchIndex) is outside 0..<\(batchCount)")
        return try makeBatch(epoch: epoch, batchIndex: batchIndex, order: sampleOrder(epoch: epoch))
    }

    /// Starts a background thread that prepares the batches of `epoch` from `firstBatch` on, up
    /// to `prefetchCount` ahead of the consumer.
    public func batches(epoch: Int, startingAt firstBatch: Int = 0) -> BatchStream {
        precondition(
            firstBatch >= 0 && firstBatch <= batchCount, "batches: firstBatch \(firstBatch) is outside 0...\(batchCount)")
        return BatchStream(loader: self, epoch: epoch, firstBatch: firstBatch)
    }

    func makeBatch(epoch: Int, batchIndex: Int, order: [Int]) throws -> Batch {
        let start = batchIndex * configuration.batchSize
        let indices = Array(order[start..<min(order.count, start + configuration.batchSize)])
        let images = Tensor.uninitialized([indices.count] + sampleShape)
        let sampleValues = sampleShape.reduce(1, *)
        let expectedSize = ImageSize(width: sampleShape[2], height: sampleShape[1])

        let threadCount = min(configuration.decodingThreadCount, indices.count)
        let failures = FailureCollector()
        let destination = SendablePointer(images.storage.pointer)
        DispatchQueue.concurrentPerform(iterations: threadCount) { thread in
            for position in stride(from: thread, to: indices.count, by: threadCount) {
                do {
                    try preprocessSample(
                        indices[position], epoch: epoch, expectedSize: expectedSize,
                        into: destination.pointer + position * sampleValues)
                } catch {
                    failures.record(error, position: position)
                }
            }
        }
        if let error = failures.first {
            throw error
        }

        let labels = indices.map { dataset.label(at: $0) }
        return Batch(images: images, labels: labels, indices: indices, epoch: epoch, batchIndex: batchIndex)
    }

    private func preprocessSample(
        _ index: Int, epoch: Int, expectedSize: ImageSize, into destination: UnsafeMutablePointer<Float>
    ) throws {
        let transform = configuration.transform
        var generator = RandomGenerator(
            seed: mixSeed(configuration.seed, UInt64(bitPattern: Int64(epoch)), UInt64(index), 0x4155_474D))
        let image = transform.applyGeometry(to: try dataset.image(at: index), generator: &generator)
        guard image.size == expectedSize else {
            throw DatasetError.imageSizeMismatch(
                origin: dataset.origin, index: index, expected: "\(expectedSize) like the first image",
                actual: "\(image.size)")
        }
        transform.writeTensorValues(of: image, to: destination)
    }
}

/// The batches of one epoch, prepared by a background thread. Stops the thread when released
/// or cancelled.
public final class BatchStream {
    private let state: StreamState

    init(loader: DataLoader, epoch: Int, firstBatch: Int) {
        state = StreamState(capacity: loader.configuration.prefetchCount)
        let state = self.state
        let thread = Thread {
            state.produce(loader: loader, epoch: epoch, firstBatch: firstBatch)
        }
        thread.name = "gradscope data loader"
        thread.start()
    }

    deinit {
        state.cancel()
    }

    /// Returns the next batch, waiting for the worker when it is not ready, or nil after the last batch.
    /// - Throws: the `DatasetError` that stopped the worker. Later calls return nil.
    public func next() throws -> Batch? {
        try state.take()
    }

    /// Stops the worker after the batch it is building; `next()` then returns nil.
    public func cancel() {
        state.cancel()
    }
}

/// The queue between the worker thread and the consumer, guarded by one condition variable.
private final class StreamState: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var ready: [Result<Batch, Error>] = []
    private var finished = false
    private var cancelled = false

    init(capacity: Int) {
        self.capacity = capacity
    }

    func produce(loader: DataLoader, epoch: Int, firstBatch: Int) {
        let order = loader.sampleOrder(epoch: epoch)
        for batchIndex in firstBatch..<loader.batchCount {
            condition.lock()
            while ready.count >= capacity && !cancelled {
                condition.wait()
            }
            let stop = cancelled
            condition.unlock()
            if stop {
                break
            }

            let result = Result { try loader.makeBatch(epoch: epoch, batchIndex: batchIndex, order: order) }
            condition.lock()
            ready.append(result)
            condition.broadcast()
            condition.unlock()
            if case .failure = result {
                break
            }
        }

        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func take() throws -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty && !finished && !cancelled {
            condition.wait()
        }
        guard !cancelled, !ready.isEmpty else {
            return nil
        }

        let result = ready.removeFirst()
        condition.broadcast()
        if case .failure = result {
            cancelled = true
        }
        return try result.get()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Keeps the error of the earliest failing sample among threads.
private final class FailureCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var earliest: (position: Int, error: Error)?

    func record(_ error: Error, position: Int) {
        lock.lock()
        defer { lock.unlock() }
        if earliest == nil || position < earliest!.position {
            earliest = (position, error)
        }
    }

    var first: Error? {
        lock.lock()
        defer { lock.unlock() }
        return earliest?.error
    }
}

/// A raw pointer handed to decoding threads, each of which writes a disjoint range.
private struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>

    init(_ pointer: UnsafeMutablePointer<Float>) {
        self.pointer = pointer
    }
}
