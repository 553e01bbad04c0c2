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

    /// Parameter names whose statistics the next `step()` records in `lastStepStatistics`.
    var trackedUpdateNames: Set<String> { get set }

    /// Norms of each tracked parameter, its gradient and its change in the last step, gathered
    /// in the same pass over memory as the update itself.
    var lastStepStatistics: [String: ParameterStepStatistics] { get }

    /// Updates every parameter that has a gradient, in place; parameters without one are skipped,
    /// as PyTorch skips parameters whose `.grad` is None.
    func step()

    /// The optimizer's state (moments, step count) as named tensors, for checkpoints.
    func stateTensors() -> [(name: String, tensor: Tensor)]

    /// Restores the state saved by `stateTensors()`.
    /// - Throws: `OptimizerStateError` naming any missing or misshapen entry.
    func loadStateTensors(_ entries: [String: Tensor]) throws
}

extension Optimizer {
    /// `‖p_after − p_before‖` of each tracked parameter in the last step.
    public var lastUpdateNorms: [String: Double] {
        lastStepStatistics.mapValues(\.updateNorm)
    }
}

/// Norms one optimizer step found for a tracked parameter, accumulated in double precision.
public struct ParameterStepStatistics: Equatable, Sendable {
    /// ‖p‖ before the step.
    public var weightNorm: Double
    /// ‖g‖ of the gradient the step used; not finite when the gradient had NaN or infinite values.
    public var gradientNorm: Double
    /// ‖p_after − p_before‖.
    public var updateNorm: Double

    public init(weightNorm: Double, gradientNorm: Double, updateNorm: Double) {
        self.weightNorm = weightNorm
        self.gradientNorm = gradientNorm
        self.updateNorm = updateNorm
    }
}

/// Sums of squares of a parameter, its gradient and its change, for `ParameterStepStatistics`.
struct SquaredNorms {
    var weight = 0.0
    var gradient = 0.0
    var update = 0.0

    /// Adds one element: its value before the step, its gradient and its value after.
    @inline(__always)
    mutating func add(before: Float, gradient: Float, after: Float) {
        let change = Double(after - before)
        weight += Double(before) * Double(before)
        self.gradient += Double(gradient) * Double(gradient)
        update += change * change
    }

    static func + (a: SquaredNorms, b: SquaredNorms) -> SquaredNorms {
        SquaredNorms(weight: a.weight + b.weight, gradient: a.gradient + b.gradient, update: a.update + b.update)
    }

    var statistics: ParameterStepStatistics {
        ParameterStepStatistics(weightNorm: weight.squareRoot(), gradientNorm: gradient.squareRoot(), updateNorm: update.squareRoot())
    }
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
        if slots.isEmpty {
            // The first slot comes after the first backward pass, when the pool contains that step's
            // activation buffers, so freeing them first keeps the moments out of the peak memory.
            TensorStorage.releaseCachedBuffers()
        }
        let created = Tensor(zeros: shape)
        slots[key] = created
        return created
    }

    func existingSlot(_ kind: String, for name: String) -> Tensor? {
        slots["\(kind).\(name)"]
    }

    /// The step count and every slot by name, as optimizers save them.
    func stateTensors(stepCount: Int) -> [(name: String, tensor: Tensor)] {
        [("step", Tensor(scalar: Float(stepCount)))] + slots.keys.sorted().map { ($0, slots[$0]!) }
    }

    /// Restores the slots of `kinds` from saved state; returns the saved step count.
    func load(_ entries: [String: Tensor], parameters: [(name: String, tensor: Tensor)], kinds: [String]) throws -> Int {
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
        return Int(entries["step"]?.item ?? 0)
    }
}

/// Runs `body` over `0..<count` split across cores and sums the doubles it returns.
func parallelSum(_ count: Int, _ body: (Range<Int>) -> Double) -> Double {
    parallelReduce(count, zero: 0.0, +, body)
}

/// Runs `body` over `0..<count` split across cores and combines the partial results with `combine`.
func parallelReduce<Value>(_ count: Int, zero: Value, _ combine: (Value, Value) -> Value, _ body: (Range<Int>) -> Value) -> Value {
    let chunks = min(kernelThreadCount, max(1, count / 16_384))
    guard chunks > 1 else {
        return body(0..<count)
    }
    let chunkSize = (count + chunks - 1) / chunks
    var partial = [Value](repeating: zero, count: chunks)
    partial.withUnsafeMutableBufferPointer { partials in
        let destination = partials.baseAddress!
        runConcurrently(iterations: chunks) { chunk in
            let start = chunk * chunkSize
            let end = min(count, start + chunkSize)
            destination[chunk] = start < end ? body(start..<end) : zero
        }
    }
    return partial.reduce(zero, combine)
}
