import NeuralNetworks
import Tensors

/// Probes attached to layers of a model, collecting `Metric` values for each training step.
///
/// Use per step: `model(x)` (hooks are registered during the forward pass), `loss.backward()`,
/// `collectGradientMetrics()`, `optimizer.step()`, `collectParameterMetrics(from:)` and
/// `takeRecords()`. Layers without a probe pay nothing: only probed modules get an observer.
public final class ProbeSet {
    public let targets: [ProbeTarget]
    private let modules: [Module]
    private var outputStatistics: [TensorStatistics?]
    private var inputStatistics: [TensorStatistics?]
    private var values: [[Metric: Double]]
    /// Probe indices in the order their output gradients arrived during the last backward pass.
    public private(set) var backwardOrder: [Int] = []

    /// Attaches probes for `targets`, which must name layers of `model`.
    public init(model: Module, targets: [ProbeTarget]) {
        self.targets = targets
        modules = targets.map { target in
            guard let module = model.module(at: target.path) else {
                preconditionFailure("probe target '\(target.path)' is not a layer of the model; resolve targets with ProbeSelection")
            }
            return module
        }
        outputStatistics = Array(repeating: nil, count: targets.count)
        inputStatistics = Array(repeating: nil, count: targets.count)
        values = Array(repeating: [:], count: targets.count)
        reattach()
    }

    deinit {
        detach()
    }

    /// Attaches the observers to the probed layers again, after `detach()`.
    public func reattach() {
        for (index, module) in modules.enumerated() {
            module.forwardObserver = { [unowned self] _, input, output in
                output.registerGradientHook { [unowned self] gradient in
                    if self.outputStatistics[index] == nil {
                        self.backwardOrder.append(index)
                    }
                    self.outputStatistics[index] = ProbeSet.merged(self.outputStatistics[index], gradient)
                }
                input.registerGradientHook { [unowned self] gradient in
                    self.inputStatistics[index] = ProbeSet.merged(self.inputStatistics[index], gradient)
                }
            }
        }
    }

    /// Statistics of `gradient` added to those of earlier calls of the same layer in this step.
    ///
    /// NOTE: a layer called several times in one forward pass (a shared module) reports the norm of
    /// all its calls' gradients together, not PyTorch's one hook call per use.
    private static func merged(_ earlier: TensorStatistics?, _ gradient: Tensor) -> TensorStatistics {
        var statistics = earlier ?? TensorStatistics()
        statistics.merge(TensorStatistics(of: gradient))
        return statistics
    }

    /// Removes the observers from the model's layers.
    public func detach() {
        for module in modules {
            module.forwardObserver = nil
        }
    }

    /// The parameter names whose step statistics the optimizer must record (`weight_l2`,
    /// `weight_grad_l2` and `update_ratio` come from its pass over each weight).
    public var trackedWeightNames: Set<String> {
        Set(zip(targets, modules).compactMap { target, module in
            module.parameters.contains { $0.name == "weight" } ? "\(target.path).weight" : nil
        })
    }

    /// Reads the output and input gradients the hooks saw; call after `backward()`.
    public func collectGradientMetrics() {
        for index in modules.indices {
            let output = outputStatistics[index]
            let input = inputStatistics[index]
            if let output {
                values[index][.gradOutputL2] = output.l2
                values[index][.gradOutputRMS] = output.count > 0 ? output.l2 / Double(output.count).squareRoot() : .nan
                values[index][.zeroFraction] = output.count > 0 ? Double(output.zeroCount) / Double(output.count) : .nan
            }
            if let input {
                values[index][.gradInputL2] = input.l2
            }
            values[index][.nonfiniteCount] = Double((output?.nonfiniteCount ?? 0) + (input?.nonfiniteCount ?? 0))
        }
    }

    /// Reads weight and bias norms, their gradients' norms and the update ratio.
    ///
    /// Call it after the optimizer step with that optimizer, whose single pass over each tracked
    /// weight already summed the norms, or with nil when no step was taken, so the weights are
    /// read here. Bias norms are always read here, because biases are small.
    public func collectParameterMetrics(from optimizer: Optimizer?) {
        for (index, module) in modules.enumerated() {
            var nonfinite = values[index][.nonfiniteCount] ?? 0
            for (name, parameter) in module.parameters where name == "weight" || name == "bias" {
                let statistics = name == "weight" ? optimizer?.lastStepStatistics["\(targets[index].path).weight"] : nil
                var gradientNorm = statistics?.gradientNorm ?? parameter.grad.map { TensorStatistics(of: $0).l2 } ?? .nan
                if let gradient = parameter.grad, !gradientNorm.isFinite {
                    let exact = TensorStatistics(of: gradient)
                    nonfinite += Double(exact.nonfiniteCount)
                    gradientNorm = exact.l2
                }
                if name == "bias" {
                    values[index][.biasGradL2] = gradientNorm
                    continue
                }
                let weightNorm = statistics?.weightNorm ?? TensorStatistics(of: parameter).l2
                values[index][.weightL2] = weightNorm
                values[index][.weightGradL2] = gradientNorm
                if let update = statistics?.updateNorm {
                    values[index][.updateRatio] = weightNorm > 0 ? update / weightNorm : .nan
                }
            }
            values[index][.nonfiniteCount] = nonfinite
        }
    }

    /// The first probe, in backward order, whose gradients contained a non-finite value this step.
    public var firstNonfiniteProbe: ProbeTarget? {
        let order = backwardOrder + targets.indices.filter { !backwardOrder.contains($0) }
        return order.first { (values[$0][.nonfiniteCount] ?? 0) > 0 }.map { targets[$0] }
    }

    /// This step's records in probe order, and a reset for the next step.
    public func takeRecords() -> [ProbeRecord] {
        let records = targets.enumerated().map { index, target in
            ProbeRecord(probe: target.name, path: target.path, values: values[index])
        }
        reset()
        return records
    }

    /// Forgets everything recorded since the last `takeRecords()`, e.g. after an evaluation pass.
    public func reset() {
        outputStatistics = Array(repeating: nil, count: targets.count)
        inputStatistics = Array(repeating: nil, count: targets.count)
        values = Array(repeating: [:], count: targets.count)
        backwardOrder = []
    }
}
