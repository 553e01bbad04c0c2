import Foundation
import Tensors

/// An update rule over named parameters, with PyTorch's exact arithmetic and defaults.
public protocol Optimizer: AnyObject {
    /// The parameters being trained, by their dotted names.
    var parameters: [(name: String, tensor: Tensor)] { get }

    /// The learning rate.
    var learningRate: Float { get set }

    /// The number of `step()` calls so far.
    var stepCount: Int { get }

    /// Parameter names whose update norm the next `step()` records in `lastUpdateNorms`.
    var trackedUpdateNames: Set<String> { get set }

    /// `‖p_after − p_before‖` of each tracked parameter in the last step, accumulated in double precision.
    var lastUpdateNorms: [String: Double] { get }

    /// Updates every parameter that has a gradient, in place; parameters without one are skipped,
    /// as PyTorch skips parameters whose `.grad` is None.
    func step()

    /// The optimizer's state (moments, step count) as named tensors, for checkpoints.
    func stateTensors() -> [(name: String, tensor: Tensor)]

    /// Restores the state saved by `stateTensors()`.
    /// - Throws: `OptimizerStateError` naming any missing or misshapen entry.
    func loadStateTensors(_ entries: [String: Tensor]) throws
}

/// A checkpoint's optimizer state that does not fit the optimizer being restored.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Per-parameter state of an optimizer: named moment buffers created lazily, as PyTorch does.
final class OptimizerSlots {
    private(set) var slots: [String: Tensor] = [:]

    func slot(_ kind: String, for name: String, shape: [Int]) -> Tensor {
        let key = "\(kind).\(name)"
        if let existing = slots[key] {
            return existing
        }
        let created = Tensor(zeros: shape)
        slots[key] = created
        return created
    }

    func existingSlot(_ kind: String, for name: String) -> Tensor? {
        slots["\(kind).\(name)"]
    }

    func namedTensors() -> [(name: String, tensor: Tensor)] {
        slots.keys.sorted().map { ($0, slots[$0]!) }
    }

    func load(_ entries: [String: Tensor], parameters: [(name: String, tensor: Tensor)], kinds: [String]) throws {
        var restored: [String: Tensor] = [:]
        for (key, tensor) in entries {
            guard let kind = kinds.first(where: { key.hasPrefix($0 + ".") }) else {
                continue
            }
            let name = String(key.dropFirst(kind.count + 1))
            guard let parameter = parameters.first(where: { $0.name == name }) else {
                throw OptimizerStateError(message: "optimizer state '\(key)' names no parameter of this model")
            }
            guard parameter.tensor.shape == tensor.shape else {
                throw OptimizerStateError(message: "optimizer state '\(key)' has shape \(tensor.shape), the parameter has \(parameter.tensor.shape)")
            }
            restored[key] = tensor.copy()
        }
        slots = restored
    }
}

/// Runs `body` over `0..<count` split across cores and sums the doubles it returns.
func parallelSum(_ count: Int, _ body: (Range<Int>) -> Double) -> Double {
    let chunks = min(kernelThreadCount, max(1, count / 65_536))
    guard chunks > 1 else {
        return body(0..<count)
    }
    let chunkSize = (count + chunks - 1) / chunks
    var partial = [Double](repeating: 0, count: chunks)
    partial.withUnsafeMutableBufferPointer { partials in
        let destination = partials.baseAddress!
        runConcurrently(iterations: chunks) { chunk in
            let start = chunk * chunkSize
            let end = min(count, start + chunkSize)
            destination[chunk] = start < end ? body(start..<end) : 0
        }
    }
    return partial.reduce(0, +)
}
