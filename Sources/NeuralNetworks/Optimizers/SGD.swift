import Foundation
import Tensors

/// Stochastic gradient descent as `torch.optim.SGD`: with weight decay `g += wd·p`; with momentum
/// `buf = g` on the first step, else `buf = momentum·buf + (1 − dampening)·g`; Nesterov uses
/// `g + momentum·buf`, otherwise `buf`; then `p −= lr·g`.
public final class SGD: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    public let momentum: Float
    public let dampening: Float
    public let weightDecay: Float
    public let nesterov: Bool
    public private(set) var stepCount = 0
    public var trackedUpdateNames: Set<String> = []
    public private(set) var lastStepStatistics: [String: ParameterStepStatistics] = [:]
    private let slots = OptimizerSlots()

    public init(
        parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0,
        dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false
    ) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum needs momentum > 0 and dampening 0")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step() {
        stepCount += 1
        lastStepStatistics = [:]
        for (name, parameter) in parameters {
            guard let gradient = parameter.grad else {
                continue
            }
            let isFirst = slots.existingSlot("momentum_buffer", for: name) == nil
            let buffer = momentum != 0 ? slots.slot("momentum_buffer", for: name, shape: parameter.shape) : nil
            let norms = update(parameter, gradient: gradient, buffer: buffer, isFirst: isFirst)
            if trackedUpdateNames.contains(name) {
                lastStepStatistics[name] = norms.statistics
            }
        }
    }

    /// Updates `parameter` in place and returns the squared norms of the weight before the step,
    /// the gradient and the change.
    private func update(_ parameter: Tensor, gradient: Tensor, buffer: Tensor?, isFirst: Bool) -> SquaredNorms {
        let p = parameter.storage.pointer
        let g = gradient.storage.pointer
        let b = buffer?.storage.pointer
        let (lr, mu, damp, wd, nesterov) = (learningRate, momentum, dampening, weightDecay, self.nesterov)
        return parallelReduce(parameter.count, zero: SquaredNorms(), +) { range in
            var norms = SquaredNorms()
            for i in range {
                let before = p[i]
                var d = g[i]
                if wd != 0 {
                    d += wd * before
                }
                if let b {
                    b[i] = isFirst ? d : mu * b[i] + (1 - damp) * d
                    d = nesterov ? d + mu * b[i] : b[i]
                }
                p[i] = before - lr * d
                norms.add(before: before, gradient: g[i], after: p[i])
            }
            return norms
        }
    }

    public func stateTensors() -> [(name: String, tensor: Tensor)] {
        slots.stateTensors(stepCount: stepCount)
    }

    public func loadStateTensors(_ entries: [String: Tensor]) throws {
        stepCount = try slots.load(entries, parameters: parameters, kinds: ["momentum_buffer"])
    }
}
