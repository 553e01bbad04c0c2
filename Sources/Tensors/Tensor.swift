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
        let pointer = result.storage.pointer
        let count = result.count

        // Large tensors are filled in fixed blocks, each from its own generator split off in
        // order, so the values depend only on the seed and both cores can draw them.
        let block = 1 << 20
        guard count > block else {
            generator.fillNormal(pointer, count: count, mean: mean, standardDeviation: standardDeviation)
            return result
        }
        let blocks = (count + block - 1) / block
        let generators = (0..<blocks).map { _ in generator.split() }
        DispatchQueue.concurrentPerform(iterations: blocks) { index in
            var blockGenerator = generators[index]
            let start = index * block
            blockGenerator.fillNormal(pointer + start, count: min(block, count - start), mean: mean, standardDeviation: standardDeviation)
        }
        return result
    }

    /// Creates a tensor of independent samples uniform on `[lowerBound, upperBound)`.
    public static func randomUniform(
        _ shape: [Int], in range: Range<Float> = 0..<1, generator: inout RandomGenerator
    ) -> Tensor {
        let result = uninitialized(shape)
        generator.fillUniform(result.storage.pointer, count: result.count, in: range)
        return result
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

/// A 64-byte aligned float32 buffer, freed when the last tensor using it goes away.
public final class TensorStorage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Allocates room for `count` floats, uninitialised.
    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let status = posix_memalign(&raw, 64, bytes)
        precondition(status == 0 && raw != nil, "allocating \(bytes) bytes failed")
        pointer = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit {
        free(pointer)
    }

    func fill(_ value: Float) {
        if value == 0 {
            memset(pointer, 0, count * MemoryLayout<Float>.stride)
        } else {
            pointer.update(repeating: value, count: count)
        }
    }
}
