import NeuralNetworks
import Tensors

/// Probes attached to layers of a model, collecting `Metric` values for each training step.
///
/// Use per step: `model(x)` (hooks are registered during the forward pass), `loss.backward()`,
/// then `collectParameterMetrics()`, `optimizer.step()`, `collectUpdateRatios(from:)` and
/// `takeRecords()`. Layers without a probe pay nothing: only probed modules get an observer.
public final class ProbeSet {
    public let targets: [ProbeTarget]
    private let modules: [Module]
    private var outputStatistics: [TensorStatistics?]
    private var inputStatistics: [TensorStatistics?]
    private var values: [[Metric: Double]]
    private var weightNorms: [Double]
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
        weightNorms = Array(repeating: .nan, count: targets.count)
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

    /// The parameter names whose update norms the optimizer must record for `update_ratio`.
    public var trackedWeightNames: Set<String> {
        Set(zip(targets, modules).compactMap { target, module in
            module.parameters.contains { $0.name == "weight" } ? "\(target.path).weight" : nil
        })
    }

    /// Reads the parameter gradients and weight norms; call after `backward()`, before the optimizer step.
    public func collectParameterMetrics() {
        for (index, module) in modules.enumerated() {
            var nonfinite = (outputStatistics[index]?.nonfiniteCount ?? 0) + (inputStatistics[index]?.nonfiniteCount ?? 0)
            if let output = outputStatistics[index] {
                values[index][.gradOutputL2] = output.l2
                values[index][.gradOutputRMS] = output.count > 0 ? output.l2 / Double(output.count).squareRoot() : .nan
                values[index][.zeroFraction] = output.count > 0 ? Double(output.zeroCount) / Double(output.count) : .nan
            }
            if let input = inputStatistics[index] {
                values[index][.gradInputL2] = input.l2
            }
            for (name, parameter) in module.parameters {
                guard name == "weight" || name == "bias" else {
                    continue
                }
                let gradient = parameter.grad.map { TensorStatistics(of: $0) }
                nonfinite += gradient?.nonfiniteCount ?? 0
                if name == "weight" {
                    let norm = TensorStatistics(of: parameter).l2
                    weightNorms[index] = norm
                    values[index][.weightL2] = norm
                    values[index][.weightGradL2] = gradient?.l2 ?? .nan
                } else {
                    values[index][.biasGradL2] = gradient?.l2 ?? .nan
                }
            }
            values[index][.nonfiniteCount] = Double(nonfinite)
        }
    }

    /// Computes `update_ratio` from the optimizer's recorded update norms; call after its step.
    public func collectUpdateRatios(from optimizer: Optimizer) {
        for (index, target) in targets.enumerated() {
            guard let update = optimizer.lastUpdateNorms["\(target.path).weight"] else {
                continue
            }
            values[index][.updateRatio] = weightNorms[index] > 0 ? update / weightNorms[index] : .nan
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
        weightNorms = Array(repeating: .nan, count: targets.count)
        backwardOrder = []
    }
}
