import Dispatch
import Foundation

/// A float32 array of any rank, stored contiguously in row-major order, that records the
/// operations applied to it so that `backward()` can compute gradients.
///
/// Shapes follow PyTorch's conventions: images are `[N, C, H, W]`, matrices `[rows, columns]`,
/// and a scalar has shape `[]`. A tensor's values may be written in place only while it is not
/// part of a graph (parameters between steps, buffers, freshly created results).
public final class Tensor {
    /// The size of each dimension, outermost first.
    public let shape: [Int]

    /// The number of elements, the product of `shape` (1 for a scalar).
    public let count: Int

    /// The contiguous, 64-byte aligned values.
    public let storage: TensorStorage

    /// Whether gradients flow into this tensor. Set it on leaves (parameters, inputs to probe);
    /// results of operations inherit it from their inputs.
    public var requiresGradient: Bool

    /// The gradient accumulated by `backward()`, for leaves that require one.
    public var grad: Tensor?

    /// The operation that produced this tensor, kept until `backward()` has used it.
    var node: GraphNode?

    /// Closures called once with this tensor's final gradient during `backward()`.
    var gradientHooks: [(Tensor) -> Void] = []

    /// Whether an element-wise consumer took this tensor's place in the graph.
    var isAbsorbed = false

    /// Creates a tensor over existing storage, which must hold at least the shape's element count.
    public init(shape: [Int], storage: TensorStorage, requiresGradient: Bool = false) {
        let count = Tensor.elementCount(of: shape)
        precondition(storage.count >= count, "storage holds \(storage.count) values, shape \(shape) needs \(count)")
        self.shape = shape
        self.count = count
        self.storage = storage
        self.requiresGradient = requiresGradient
    }

    /// Creates a tensor of the given shape filled with `value`.
    public convenience init(repeating value: Float, shape: [Int], requiresGradient: Bool = false) {
        let storage = TensorStorage(count: Tensor.elementCount(of: shape))
        storage.fill(value)
        self.init(shape: shape, storage: storage, requiresGradient: requiresGradient)
    }

    /// Creates a tensor of zeros.
    public convenience init(zeros shape: [Int], requiresGradient: Bool = false) {
        self.init(repeating: 0, shape: shape, requiresGradient: requiresGradient)
    }

    /// Creates a tensor from values in row-major order; `values.count` must equal the shape's element count.
    public convenience init(_ values: [Float], shape: [Int], requiresGradient: Bool = false) {
        let count = Tensor.elementCount(of: shape)
        precondition(values.count == count, "\(values.count) values given for shape \(shape), which needs \(count)")
        let storage = TensorStorage(count: count)
        values.withUnsafeBufferPointer { source in
            storage.pointer.update(from: source.baseAddress!, count: count)
        }
        self.init(shape: shape, storage: storage, requiresGradient: requiresGradient)
    }

    /// Creates a scalar (shape `[]`).
    public convenience init(scalar value: Float, requiresGradient: Bool = false) {
        self.init([value], shape: [], requiresGradient: requiresGradient)
    }

    /// Creates an uninitialised tensor, for kernels that write every element.
    public static func uninitialized(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: elementCount(of: shape)))
    }

    /// Creates a tensor of independent normal samples with the given mean and standard deviation.
    public static func randomNormal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        let result = uninitialized(shape)
        result.fillRandomNormal(mean: mean, standardDeviation: standardDeviation, generator: &generator)
        return result
    }

    /// Creates a tensor of independent samples uniform on `[lowerBound, upperBound)`.
    public static func randomUniform(
        _ shape: [Int], in range: Range<Float> = 0..<1, generator: inout RandomGenerator
    ) -> Tensor {
        let result = uninitialized(shape)
        result.fillRandomUniform(in: range, generator: &generator)
        return result
    }

    /// Overwrites every element with independent normal samples: the values `randomNormal`
    /// gives for the same generator state, without a temporary tensor.
    public func fillRandomNormal(mean: Float = 0, standardDeviation: Float = 1, generator: inout RandomGenerator) {
        let pointer = storage.pointer

        // Large tensors are filled in fixed blocks, each from its own generator split off in
        // order, so the values depend only on the seed and both cores can draw them.
        let block = 1 << 20
        guard count > block else {
            generator.fillNormal(pointer, count: count, mean: mean, standardDeviation: standardDeviation)
            return
        }
        let total = count
        let blocks = (total + block - 1) / block
        let generators = (0..<blocks).map { _ in generator.split() }
        runConcurrently(iterations: blocks) { index in
            var blockGenerator = generators[index]
            let start = index * block
            blockGenerator.fillNormal(pointer + start, count: min(block, total - start), mean: mean, standardDeviation: standardDeviation)
        }
    }

    /// Overwrites every element with independent samples uniform on `[lowerBound, upperBound)`:
    /// the values `randomUniform` gives for the same generator state.
    public func fillRandomUniform(in range: Range<Float> = 0..<1, generator: inout RandomGenerator) {
        generator.fillUniform(storage.pointer, count: count, in: range)
    }

    static func elementCount(of shape: [Int]) -> Int {
        var count = 1
        for size in shape {
            precondition(size >= 0, "negative dimension in shape \(shape)")
            count *= size
        }
        return count
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The values in row-major order, copied into an array.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item needs a tensor with one element, this one has shape \(shape)")
        return storage.pointer[0]
    }

    /// The element at a full multi-dimensional index; meant for tests and small reads.
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[flatIndex(index)] }
        set { storage.pointer[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) has \(index.count) components, tensor has rank \(rank)")
        var flat = 0
        for (axis, position) in index.enumerated() {
            precondition(position >= 0 && position < shape[axis], "index \(index) is out of bounds for shape \(shape)")
            flat = flat * shape[axis] + position
        }
        return flat
    }

    /// Read-only access to the values.
    public func withUnsafeBufferPointer<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Write access to the values; only for tensors that are not part of a graph.
    public func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// A new tensor with a copy of the values, detached from any graph.
    public func copy() -> Tensor {
        let result = Tensor.uninitialized(shape)
        result.storage.pointer.update(from: storage.pointer, count: count)
        return result
    }

    /// The same values, detached from the graph (shares storage).
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage)
    }

    /// Overwrites the values with those of `other`, which must have the same element count.
    public func assign(from other: Tensor) {
        precondition(other.count == count, "assign: source has shape \(other.shape), destination \(shape)")
        storage.pointer.update(from: other.storage.pointer, count: count)
    }
}

extension Tensor: CustomStringConvertible {
    /// Shape and up to the first eight values, e.g. `Tensor([2, 3], [0.1, 0.2, ...])`.
    public var description: String {
        let shown = min(count, 8)
        var values = (0..<shown).map { String(format: "%.6g", storage.pointer[$0]) }
        if count > shown {
            values.append("... \(count - shown) more")
        }
        let gradientNote = requiresGradient ? ", requiresGradient" : ""
        return "Tensor(\(shape), [\(values.joined(separator: ", "))]\(gradientNote))"
    }
}

/// A 64-byte aligned float32 buffer, returned to `StoragePool` when the last tensor using it goes away.
public final class TensorStorage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    /// The bytes actually allocated, the pool's size class for `count` floats.
    private let allocatedBytes: Int

    /// Allocates room for `count` floats, uninitialised. Large buffers come from `StoragePool`,
    /// so their memory may hold values from an earlier tensor.
    public init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let (raw, allocated) = StoragePool.shared.allocate(bytes: bytes)
        allocatedBytes = allocated
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit {
        StoragePool.shared.release(UnsafeMutableRawPointer(pointer), bytes: allocatedBytes)
    }

    func fill(_ value: Float) {
        if value == 0 {
            memset(pointer, 0, count * MemoryLayout<Float>.stride)
        } else {
            pointer.update(repeating: value, count: count)
        }
    }

    /// Frees every buffer the pool keeps for reuse, for example after training, before other
    /// work that needs the memory. Tensors still alive keep theirs.
    public static func releaseCachedBuffers() {
        StoragePool.shared.releaseAll()
    }

    /// The bytes the pool currently keeps for reuse.
    public static var cachedBytes: Int {
        StoragePool.shared.cachedBytes
    }
}

/// Freed tensor buffers of at least `minimumBytes`, kept by size class for the next tensor of
/// that class.
///
/// A training step allocates the same activation and gradient sizes every time. Fresh pages
/// fault and are zeroed by the kernel on their first write, so reusing buffers avoids that work
/// (about a quarter of a VGG19 step before the pool, measured with `perf` on the benchmark
/// machine). Sizes are rounded up to one of eight classes per power of two, so a buffer wastes
/// at most 12.5% of its size, and pages a tensor never touches are not resident. A request whose
/// class is empty may take a kept buffer of up to twice its class.
///
/// A pool that kept everything would hold, at a step's peak, the idle buffers of every class
/// the peak does not use: 630 MiB in a VGG19 224x224 batch-8 step. On a miss the pool therefore
/// unmaps its least recently released buffers until the memory it manages, in use and kept, is
/// at most `slackBytes` above the most it has had in use at once. It never keeps more than
/// `limitBytes`.
final class StoragePool: @unchecked Sendable {
    /// The process's pool: it keeps up to a quarter of physical memory, with 256 MiB of slack.
    /// Measured on a VGG19 224x224 batch-8 step, keeping everything took 2.11 to 2.14 s with a peak
    /// of 3.75 to 3.89 GiB. With 256 MiB of slack the step took 2.32 to 2.53 s and 3.36 GiB, and
    /// without slack 2.56 to 2.71 s and 3.11 GiB.
    static let shared = StoragePool(
        limitBytes: Int(min(ProcessInfo.processInfo.physicalMemory / 4, UInt64(Int.max))), slackBytes: 256 << 20)

    /// Smaller buffers go straight to `posix_memalign` and `free`, whose own bins serve them well;
    /// larger ones are mapped and unmapped by the pool itself.
    static let minimumBytes = 1 << 16

    let limitBytes: Int
    let slackBytes: Int
    private let lock = NSLock()
    /// Kept buffers by size class, each list oldest release first, with its release number.
    private var buffers: [Int: [(pointer: UnsafeMutableRawPointer, release: Int)]] = [:]
    private var pooledBytes = 0
    private var liveBytes = 0
    private var peakLiveBytes = 0
    private var releaseCount = 0

    init(limitBytes: Int, slackBytes: Int) {
        self.limitBytes = limitBytes
        self.slackBytes = slackBytes
    }

    /// The size class of a request: `bytes` rounded up to a multiple of an eighth of its
    /// highest power of two, or `bytes` itself below `minimumBytes`.
    static func sizeClass(of bytes: Int) -> Int {
        guard bytes >= minimumBytes else {
            return bytes
        }
        let highestPower = 1 << (Int.bitWidth - 1 - bytes.leadingZeroBitCount)
        let step = highestPower / 8
        return (bytes + step - 1) / step * step
    }

    /// Returns a 64-byte aligned buffer of at least `bytes` and the size to pass to `release`.
    func allocate(bytes: Int) -> (pointer: UnsafeMutableRawPointer, allocatedBytes: Int) {
        let size = StoragePool.sizeClass(of: bytes)
        guard size >= StoragePool.minimumBytes else {
            var raw: UnsafeMutableRawPointer?
            let status = posix_memalign(&raw, 64, size)
            precondition(status == 0 && raw != nil, "allocating \(size) bytes failed")
            return (raw!, size)
        }

        lock.lock()
        var reusableClass: Int?
        if buffers[size]?.isEmpty == false {
            reusableClass = size
        } else {
            reusableClass = buffers.keys.filter { $0 > size && $0 <= 2 * size && buffers[$0]?.isEmpty == false }.min()
        }
        if let reusableClass {
            let reused = buffers[reusableClass]!.removeLast()
            pooledBytes -= reusableClass
            liveBytes += reusableClass
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            lock.unlock()
            return (reused.pointer, reusableClass)
        }
        liveBytes += size
        peakLiveBytes = max(peakLiveBytes, liveBytes)
        let evicted = evictOldest(toFit: peakLiveBytes + slackBytes)
        lock.unlock()

        for buffer in evicted {
            StoragePool.unmap(buffer.pointer, bytes: buffer.bytes)
        }
        return (StoragePool.map(bytes: size), size)
    }

    /// Maps fresh zeroed pages for a pool buffer. Pool buffers bypass `malloc`: glibc serves
    /// requests up to 32 MiB from its heap once large blocks have been freed, and memory freed
    /// inside the heap stays resident, so unmapping is the only way to give memory back.
    private static func map(bytes: Int) -> UnsafeMutableRawPointer {
        let pointer = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(pointer != MAP_FAILED && pointer != nil, "mapping \(bytes) bytes for a tensor failed (errno \(errno))")
        return pointer!
    }

    private static func unmap(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        munmap(pointer, bytes)
    }

    /// Removes the least recently released buffers until the bytes in use and kept are at most
    /// `bound`; returns them to be freed outside the lock. Call it with the lock held.
    private func evictOldest(toFit bound: Int) -> [(pointer: UnsafeMutableRawPointer, bytes: Int)] {
        var evicted: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
        while liveBytes + pooledBytes > bound {
            var oldest: (size: Int, release: Int)?
            for (size, list) in buffers {
                if let first = list.first, first.release < oldest?.release ?? Int.max {
                    oldest = (size, first.release)
                }
            }
            guard let oldest else {
                break
            }
            evicted.append((buffers[oldest.size]!.removeFirst().pointer, oldest.size))
            pooledBytes -= oldest.size
        }
        return evicted
    }

    /// Takes back a buffer from `allocate`, keeping it for reuse when it fits under the limit.
    func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= StoragePool.minimumBytes {
            lock.lock()
            liveBytes -= bytes
            let keeps = pooledBytes + bytes <= limitBytes
            if keeps {
                releaseCount += 1
                buffers[bytes, default: []].append((pointer, releaseCount))
                pooledBytes += bytes
            }
            lock.unlock()
            if !keeps {
                StoragePool.unmap(pointer, bytes: bytes)
            }
            return
        }
        free(pointer)
    }

    func releaseAll() {
        lock.lock()
        let released = buffers
        buffers = [:]
        pooledBytes = 0
        lock.unlock()
        for (size, list) in released {
            for entry in list {
                StoragePool.unmap(entry.pointer, bytes: size)
            }
        }
    }

    var cachedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return pooledBytes
    }
}
