import CDNNL
import Foundation

// Element-wise operations: computed in Swift with vectorisable loops, split across cores, except
// sigmoid and tanh, which use oneDNN's vectorised kernels (EltwiseKernels.swift).

/// A function of one value, applied to eight lanes at once and to single values at the end of
/// a buffer. Both forms must give the same result for the same value.
protocol UnaryElementFunction {
    func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float>
    func callAsFunction(_ x: Float) -> Float
}

/// A function of two values, applied like `UnaryElementFunction`.
protocol BinaryElementFunction {
    func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float>
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

extension Tensor {
    /// Applies `function` to every element into a new tensor.
    ///
    /// The function is a generic parameter, not a closure, so each use is compiled into its own
    /// vector loop. With a closure, every element cost an indirect call.
    func mapElements<Function: UnaryElementFunction>(_ function: Function) -> Tensor {
        let result = Tensor.uninitialized(shape)
        let source = storage.pointer
        let destination = result.storage.pointer
        parallelChunks(count) { range in
            var index = range.lowerBound
            while index + 8 <= range.upperBound {
                function(SIMD8<Float>(loadingFrom: source + index)).store(to: destination + index)
                index += 8
            }
            while index < range.upperBound {
                destination[index] = function(source[index])
                index += 1
            }
        }
        return result
    }

    /// Combines two equally shaped tensors element by element into a new tensor, as `mapElements`.
    func zipElements<Function: BinaryElementFunction>(_ other: Tensor, _ function: Function) -> Tensor {
        precondition(other.shape == shape, "element-wise operation on shapes \(shape) and \(other.shape)")
        let result = Tensor.uninitialized(shape)
        let left = storage.pointer
        let right = other.storage.pointer
        let destination = result.storage.pointer
        parallelChunks(count) { range in
            var index = range.lowerBound
            while index + 8 <= range.upperBound {
                function(SIMD8<Float>(loadingFrom: left + index), SIMD8<Float>(loadingFrom: right + index))
                    .store(to: destination + index)
                index += 8
            }
            while index < range.upperBound {
                destination[index] = function(left[index], right[index])
                index += 1
            }
        }
        return result
    }

    /// Returns the element-wise sum of two equally shaped tensors, outside the graph.
    public func adding(_ other: Tensor) -> Tensor {
        zipElements(other, Sum())
    }

    /// Adds `other` into this tensor's values; only for tensors that are not part of a graph.
    public func addInPlace(_ other: Tensor, scale: Float = 1) {
        precondition(other.count == count, "addInPlace: shapes \(shape) and \(other.shape)")
        let destination = storage.pointer
        let source = other.storage.pointer
        parallelChunks(count) { range in
            for index in range {
                destination[index] += scale * source[index]
            }
        }
    }

    /// Multiplies every value in place by `factor`; only for tensors that are not part of a graph.
    public func scaleInPlace(by factor: Float) {
        let destination = storage.pointer
        parallelChunks(count) { range in
            for index in range {
                destination[index] *= factor
            }
        }
    }

    /// Sets every value in place; only for tensors that are not part of a graph.
    public func fill(_ value: Float) {
        storage.fill(value)
    }
}

// MARK: - Activations

/// Applies the rectified linear unit, `max(x, 0)`. Its derivative at 0 is taken as 0, as in PyTorch.
public func relu(_ x: Tensor) -> Tensor {
    let output = x.mapElements(Rectifier())
    return Tensor.recordOutputOnlyOperation(output, input: x) { gradient in
        gradient.zipElements(output, RectifierGradient())
    }
}

/// Applies the logistic sigmoid, `1 / (1 + exp(-x))`, whose derivative is at most 0.25.
public func sigmoid(_ x: Tensor) -> Tensor {
    let output = x.applyingEltwise(dnnl_eltwise_logistic)
    return Tensor.recordOutputOnlyOperation(output, input: x) { gradient in
        gradient.zipElements(output, SigmoidGradient())
    }
}

/// Applies the hyperbolic tangent.
public func tanh(_ x: Tensor) -> Tensor {
    let output = x.applyingEltwise(dnnl_eltwise_tanh)
    return Tensor.recordOutputOnlyOperation(output, input: x) { gradient in
        gradient.zipElements(output, TanhGradient())
    }
}

/// `max(x, 0)`, which keeps NaN and turns -0 into 0.
struct Rectifier: UnaryElementFunction {
    @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x.replacing(with: 0, where: x .<= 0) }
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x <= 0 ? 0 : x }
}

/// `relu(a + b)`.
struct RectifiedSum: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { Rectifier()(a + b) }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { Rectifier()(a + b) }
}

/// A ReLU's backward pass from its output `y`: the gradient `g` where `y > 0`, else 0.
struct RectifierGradient: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ g: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { g.replacing(with: 0, where: .!(y .> 0)) }
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { y > 0 ? g : 0 }
}

/// The sigmoid's backward pass from its output `y`: `g * y * (1 - y)`.
struct SigmoidGradient: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ g: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { g * y * (1 - y) }
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) }
}

/// The hyperbolic tangent's backward pass from its output `y`: `g * (1 - y * y)`.
struct TanhGradient: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ g: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> { g * (1 - y * y) }
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * (1 - y * y) }
}

// MARK: - Arithmetic

struct Sum: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a + b }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}

struct Product: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a * b }
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}

struct Scaling: UnaryElementFunction {
    let factor: Float
    @inline(__always) func callAsFunction(_ x: SIMD8<Float>) -> SIMD8<Float> { x * factor }
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * factor }
}

/// Adds `a` and `b` element-wise, broadcasting `b` over `a` when `b`'s shape is a suffix of `a`'s with
/// sizes 1 allowed (for example `[C, 1, 1]` over `[N, C, H, W]`, or `[K]` over `[N, K]`).
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    if a.shape == b.shape {
        let output = a.zipElements(b, Sum())
        return Tensor.recordKernelOperation(output, inputs: [a, b]) { gradient in
            [gradient, gradient]
        }
    }
    let plan = BroadcastPlan(target: a.shape, source: b.shape)
    let output = a.copy()
    plan.forEachPair(count: a.count) { targetIndex, sourceIndex in
        output.storage.pointer[targetIndex] += b.storage.pointer[sourceIndex]
    }
    return Tensor.recordOperation(output, inputs: [a, b]) { gradient in
        let reduced = Tensor(zeros: b.shape)
        plan.forEachPair(count: a.count) { targetIndex, sourceIndex in
            reduced.storage.pointer[sourceIndex] += gradient.storage.pointer[targetIndex]
        }
        return [gradient, reduced]
    }
}

/// Returns `relu(a + b)` for equally shaped tensors in one pass over the values. The sum itself
/// is never stored, so no gradient hook can see it.
public func reluOfSum(_ a: Tensor, _ b: Tensor) -> Tensor {
    let output = a.zipElements(b, RectifiedSum())
    return Tensor.recordOperation(output, inputs: [a, b]) { gradient in
        let inputGradient = gradient.zipElements(output, RectifierGradient())
        return [inputGradient, inputGradient]
    }
}

/// The repetition pattern of a smaller tensor's elements over a larger one under suffix broadcasting.
struct BroadcastPlan {
    let targetShape: [Int]
    let sourceStrides: [Int]

    init(target: [Int], source: [Int]) {
        precondition(source.count <= target.count, "cannot broadcast shape \(source) to \(target)")
        let padded = Array(repeating: 1, count: target.count - source.count) + source
        var strides = Array(repeating: 0, count: target.count)
        var step = 1
        for axis in stride(from: target.count - 1, through: 0, by: -1) {
            precondition(padded[axis] == target[axis] || padded[axis] == 1, "cannot broadcast shape \(source) to \(target)")
            strides[axis] = padded[axis] == 1 ? 0 : step
            step *= padded[axis]
        }
        targetShape = target
        sourceStrides = strides
    }

    func forEachPair(count: Int, _ body: (Int, Int) -> Void) {
        var index = Array(repeating: 0, count: targetShape.count)
        var sourceIndex = 0
        for targetIndex in 0..<count {
            body(targetIndex, sourceIndex)
            var axis = targetShape.count - 1
            while axis >= 0 {
                index[axis] += 1
                sourceIndex += sourceStrides[axis]
                if index[axis] < targetShape[axis] {
                    break
                }
                sourceIndex -= sourceStrides[axis] * targetShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Multiplies two equally shaped tensors element-wise.
public func multiply(_ a: Tensor, _ b: Tensor) -> Tensor {
    let output = a.zipElements(b, Product())
    return Tensor.recordOperation(output, inputs: [a, b]) { gradient in
        [gradient.zipElements(b, Product()), gradient.zipElements(a, Product())]
    }
}

/// Multiplies every element by `factor`.
public func multiply(_ x: Tensor, by factor: Float) -> Tensor {
    let output = x.mapElements(Scaling(factor: factor))
    return Tensor.recordOperation(output, inputs: [x]) { gradient in
        [gradient.mapElements(Scaling(factor: factor))]
    }
}

public func + (a: Tensor, b: Tensor) -> Tensor { add(a, b) }
public func * (a: Tensor, b: Tensor) -> Tensor { multiply(a, b) }
public func * (x: Tensor, factor: Float) -> Tensor { multiply(x, by: factor) }

// MARK: - Shape

extension Tensor {
    /// Returns the same values under a new shape with the same element count. One dimension may be -1.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            resolved[inferred] = count / known
        }
        precondition(Tensor.elementCount(of: resolved) == count, "cannot reshape \(shape) (\(count) values) to \(newShape)")
        let output = Tensor(shape: resolved, storage: storage)
        let inputShape = shape
        return Tensor.recordOperation(output, inputs: [self]) { gradient in
            [Tensor(shape: inputShape, storage: gradient.storage)]
        }
    }

    /// Collapses dimensions `startDimension...` into one, as `torch.flatten(x, 1)` does for `[N, C, H, W]`.
    public func flattened(startDimension: Int = 1) -> Tensor {
        precondition(startDimension >= 0 && startDimension <= rank, "flatten start \(startDimension) for rank \(rank)")
        let kept = Array(shape.prefix(startDimension))
        let merged = shape.dropFirst(startDimension).reduce(1, *)
        return reshaped(kept + [merged])
    }
}

// MARK: - Reductions

/// Sums all elements into a scalar, accumulating in double precision.
public func sum(_ x: Tensor) -> Tensor {
    var total = 0.0
    x.withUnsafeBufferPointer { values in
        for value in values {
            total += Double(value)
        }
    }
    let output = Tensor(scalar: Float(total))
    let inputShape = x.shape
    return Tensor.recordOperation(output, inputs: [x]) { gradient in
        [Tensor(repeating: gradient.item, shape: inputShape)]
    }
}

/// Returns the mean of all elements as a scalar.
public func mean(_ x: Tensor) -> Tensor {
    precondition(x.count > 0, "mean of an empty tensor")
    return sum(x) * (1 / Float(x.count))
}

// MARK: - Regularisation

/// Zeroes each element with probability `probability` and scales the rest by `1 / (1 - probability)`
/// in training; returns `x` unchanged in evaluation or when `probability` is 0.
public func dropout(_ x: Tensor, probability: Float, training: Bool, generator: inout RandomGenerator) -> Tensor {
    precondition(probability >= 0 && probability < 1 || probability == 1, "dropout probability \(probability) is outside [0, 1]")
    guard training, probability > 0 else {
        return x
    }
    let keep = 1 - probability
    let scale: Float = keep > 0 ? 1 / keep : 0
    let mask = Tensor.uninitialized(x.shape)
    for index in 0..<x.count {
        mask.storage.pointer[index] = generator.nextUniform() < probability ? 0 : scale
    }
    let output = x.zipElements(mask, Product())
    return Tensor.recordOperation(output, inputs: [x]) { gradient in
        [gradient.zipElements(mask, Product())]
    }
}

// MARK: - Observation

/// The same values as a new graph node (shares storage), so that a gradient hook on the result
/// sees only the gradient that flows through this use of `x`, as PyTorch's full backward hooks
/// see a module's own `grad_input` even where `x` also feeds a residual shortcut.
public func identity(_ x: Tensor) -> Tensor {
    let output = Tensor(shape: x.shape, storage: x.storage)
    return Tensor.recordOperation(output, inputs: [x]) { gradient in
        [gradient]
    }
}
