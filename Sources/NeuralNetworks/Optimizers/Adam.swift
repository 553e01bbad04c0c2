import Foundation
import Tensors

/// Adam and AdamW as `torch.optim.Adam` / `torch.optim.AdamW` (single-tensor path):
///
///     g += wd·p                      (Adam's L2 weight decay)
///     p *= 1 − lr·wd                 (AdamW's decoupled decay, instead)
///     m = β1·m + (1 − β1)·g
///     v = β2·v + (1 − β2)·g²
///     p −= lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
///
/// With AMSGrad, `√v` uses the running maximum of `v`. The whole update is one pass over each
/// parameter and its moments, split across cores.
public final class Adam: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    public let decoupledWeightDecay: Bool
    public let amsgrad: Bool
    public private(set) var stepCount = 0
    public var trackedUpdateNames: Set<String> = []
    public private(set) var lastStepStatistics: [String: ParameterStepStatistics] = [:]
    private let slots = OptimizerSlots()

    /// Creates Adam (or AdamW when `decoupledWeightDecay`) with PyTorch's defaults.
    public init(
        parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9,
        beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false,
        amsgrad: Bool = false
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        self.amsgrad = amsgrad
    }

    /// AdamW with PyTorch's default weight decay of 0.01.
    public static func adamW(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, weightDecay: Float = 1e-2) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public func step() {
        stepCount += 1
        lastStepStatistics = [:]
        for (name, parameter) in parameters {
            guard let gradient = parameter.grad else {
                continue
            }
            let m = slots.slot("exp_avg", for: name, shape: parameter.shape)
            let v = slots.slot("exp_avg_sq", for: name, shape: parameter.shape)
            let vMax = amsgrad ? slots.slot("max_exp_avg_sq", for: name, shape: parameter.shape) : nil
            let tracksNorm = trackedUpdateNames.contains(name)
            let norms = update(parameter, gradient: gradient, m: m, v: v, vMax: vMax, tracksNorm: tracksNorm)
            if tracksNorm {
                lastStepStatistics[name] = norms.statistics
            }
        }
    }

    /// Updates `parameter` in place; with `tracksNorm`, also returns the squared norms of the
    /// weight before the step, the gradient and the change, gathered in the same pass.
    private func update(_ parameter: Tensor, gradient: Tensor, m: Tensor, v: Tensor, vMax: Tensor?, tracksNorm: Bool) -> SquaredNorms {
        let p = parameter.storage.pointer
        let g = gradient.storage.pointer
        let mp = m.storage.pointer
        let vp = v.storage.pointer

        // PyTorch computes the bias corrections in double precision from Python floats, then
        // applies them to float32 tensors.
        let step = Double(stepCount)
        let biasCorrection1 = 1 - Foundation.pow(Double(beta1), step)
        let biasCorrection2Root = Float((1 - Foundation.pow(Double(beta2), step)).squareRoot())
        let stepSize = Float(Double(learningRate) / biasCorrection1)
        let (b1, b2, eps, wd, lr) = (beta1, beta2, epsilon, weightDecay, learningRate)
        let l2 = decoupledWeightDecay ? 0 : wd
        let decay: Float = decoupledWeightDecay ? 1 - lr * wd : 1

        // Without AMSGrad the update runs on 8 lanes at a time, in a loop compiled once without
        // weight decay (the common case) and once with it.
        if vMax == nil {
            let pass = AdamVectorPass(
                p: p, g: g, m: mp, v: vp, beta1: b1, beta2: b2, epsilon: eps, l2: l2, decay: decay,
                stepSize: stepSize, biasCorrection2Root: biasCorrection2Root, tracksNorm: tracksNorm)
            let flushes = !tracksNorm && Adam.flushingSubnormalsIsHarmless(epsilon: eps, biasCorrection2Root: biasCorrection2Root)
            func update(_ range: Range<Int>) -> SquaredNorms {
                wd == 0 ? pass.run(range, NoWeightDecay.self) : pass.run(range, WithWeightDecay.self)
            }
            return parallelReduce(parameter.count, zero: SquaredNorms(), +) { range in
                flushes ? withSubnormalsFlushedToZero { update(range) } : update(range)
            }
        }

        let maxp = vMax!.storage.pointer
        return parallelReduce(parameter.count, zero: SquaredNorms(), +) { range in
            var norms = SquaredNorms()
            for i in range {
                let before = p[i]
                let decayed = before * decay
                let d = g[i] + l2 * before
                mp[i] = mp[i] * b1 + (1 - b1) * d
                vp[i] = vp[i] * b2 + (1 - b2) * d * d
                maxp[i] = max(maxp[i], vp[i])
                let denominator = maxp[i].squareRoot() / biasCorrection2Root + eps
                p[i] = decayed - stepSize * (mp[i] / denominator)
                norms.add(before: before, gradient: g[i], after: p[i])
            }
            return norms
        }
    }

    /// Returns whether the update of an untracked parameter may run with subnormals flushed to
    /// zero.
    ///
    /// Squares of vanishing gradients are subnormal, and on them the update took twice as long
    /// (a deep sigmoid MLP on the benchmark machine).
    ///
    /// Each term flushing drops is below 2⁻¹²⁶, and when this returns true it cannot matter:
    /// - In `√v / biasCorrection2Root + epsilon` it moves `√v` by at most 2⁻⁶³, which is less
    ///   than half a unit in the last place of `epsilon`, so a denominator rounds to the same
    ///   value or, at a rounding boundary, to its neighbour.
    /// - Through `m` it moves a weight by at most `stepSize · 2⁻¹²⁶ / epsilon` (below 10⁻³⁰ with
    ///   the defaults), which leaves a weight of magnitude above about 10⁻²³ unchanged.
    ///
    /// Tracked parameters never flush, so their gradient and update norms count every subnormal
    /// value.
    static func flushingSubnormalsIsHarmless(epsilon: Float, biasCorrection2Root: Float) -> Bool {
        // Half a unit in the last place of epsilon is more than epsilon · 2⁻²⁵.
        let largestShift = Float(sign: .plus, exponent: -63, significand: 1) / biasCorrection2Root
        return epsilon.isNormal && largestShift < epsilon * Float(sign: .plus, exponent: -25, significand: 1)
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        slots.stateTensors(stepCount: stepCount)
    }

    public func loadStateTensors(_ entries: [String: Tensor]) throws {
        stepCount = try slots.load(entries, parameters: parameters, kinds: ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"])
    }
}

/// Whether the vector loop applies weight decay, fixed at compile time: without it the loop
/// needs two multiplications and two broadcast constants less. With SSE's 16 vector registers
/// the tracked loop otherwise spilled, which made VGG19's optimizer phase about 12% slower.
private protocol WeightDecayMode {
    static var decays: Bool { get }
}

private enum NoWeightDecay: WeightDecayMode {
    static var decays: Bool { false }
}

private enum WithWeightDecay: WeightDecayMode {
    static var decays: Bool { true }
}

/// One Adam step over a range of a parameter without AMSGrad.
private struct AdamVectorPass {
    let p: UnsafeMutablePointer<Float>
    let g: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let beta1: Float
    let beta2: Float
    let epsilon: Float
    let l2: Float
    let decay: Float
    let stepSize: Float
    let biasCorrection2Root: Float
    let tracksNorm: Bool

    /// Updates `range`; with `tracksNorm`, returns the squared norms of the weight before, the
    /// gradient and the change. The SIMD expressions match the scalar tail term by term, and SIMD
    /// square roots and divisions round as the scalar ones do, so every element gets the same
    /// value either way. Tracked norms are summed in float lanes over blocks of 1,024 elements,
    /// then in double precision.
    @inline(__always)
    func run<Mode: WeightDecayMode>(_ range: Range<Int>, _ mode: Mode.Type) -> SquaredNorms {
        let lanes = 8
        let (p, g, m, v) = (p, g, m, v)
        let (b1, b2, eps, l2, decay, stepSize, root) = (beta1, beta2, epsilon, l2, decay, stepSize, biasCorrection2Root)

        // Updates the 8 elements at `i`; returns the weight before, the raw gradient and the weight after.
        @inline(__always)
        func update(at i: Int) -> (before: SIMD8<Float>, gradient: SIMD8<Float>, after: SIMD8<Float>) {
            let before = SIMD8<Float>(loadingFrom: p + i)
            let raw = SIMD8<Float>(loadingFrom: g + i)
            let d = Mode.decays ? raw + l2 * before : raw
            let first = SIMD8<Float>(loadingFrom: m + i) * b1 + (1 - b1) * d
            let second = SIMD8<Float>(loadingFrom: v + i) * b2 + (1 - b2) * d * d
            let denominator = vectorSquareRoot(second) / root + eps
            let after = (Mode.decays ? before * decay : before) - stepSize * (first / denominator)
            first.store(to: m + i)
            second.store(to: v + i)
            after.store(to: p + i)
            return (before, raw, after)
        }

        var norms = SquaredNorms()
        let vectorEnd = range.lowerBound + range.count / lanes * lanes
        var blockStart = range.lowerBound
        while blockStart < vectorEnd {
            let blockEnd = min(blockStart + 1024, vectorEnd)
            var i = blockStart
            if tracksNorm {
                var weightLanes = SIMD8<Float>()
                var gradientLanes = SIMD8<Float>()
                var updateLanes = SIMD8<Float>()
                while i < blockEnd {
                    let (before, raw, after) = update(at: i)
                    let change = after - before
                    weightLanes += before * before
                    gradientLanes += raw * raw
                    updateLanes += change * change
                    i += lanes
                }
                norms = norms + SquaredNorms(weight: Double(weightLanes.sum()), gradient: Double(gradientLanes.sum()), update: Double(updateLanes.sum()))
            } else {
                while i < blockEnd {
                    _ = update(at: i)
                    i += lanes
                }
            }
            blockStart = blockEnd
        }

        var i = vectorEnd
        while i < range.upperBound {
            let before = p[i]
            let d = Mode.decays ? g[i] + l2 * before : g[i]
            let first = m[i] * b1 + (1 - b1) * d
            let second = v[i] * b2 + (1 - b2) * d * d
            m[i] = first
            v[i] = second
            let denominator = second.squareRoot() / root + eps
            p[i] = (Mode.decays ? before * decay : before) - stepSize * (first / denominator)
            if tracksNorm {
                norms.add(before: before, gradient: g[i], after: p[i])
            }
            i += 1
        }
        return norms
    }
}

/// LLVM's `llvm.sqrt` on four lanes, which compiles to one `sqrtps`. `SIMD8.squareRoot()`
/// compiles to eight scalar `sqrtss` with a branch each on the Swift 6.3 toolchain, which made
/// Adam's loop bound by square roots. Both round correctly, so the values are the same.
///
/// NOTE: binding an LLVM intrinsic with `@_silgen_name` is an unofficial Swift feature. A
/// toolchain that lowers `SIMD4<Float>` differently rejects it at compile time.
@_silgen_name("llvm.sqrt.v4f32")
private func llvmSquareRoot(_ x: SIMD4<Float>) -> SIMD4<Float>

/// Returns the square root of each lane, correctly rounded as `Float.squareRoot()` is.
@inline(__always)
private func vectorSquareRoot(_ x: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8(lowHalf: llvmSquareRoot(x.lowHalf), highHalf: llvmSquareRoot(x.highHalf))
}
