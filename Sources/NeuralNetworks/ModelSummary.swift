import Tensors

/// One row of a model's printout: a module with its path, settings, output shape and parameters.
public struct ModelSummaryRow: Sendable {
    public var path: String
    public var depth: Int
    public var type: String
    /// The output shape for the summarised input, `[1, C, H, W]`; nil for a module the forward pass did not call.
    public var outputShape: [Int]?
    /// Parameters owned by this module and its descendants.
    public var parameterCount: Int
}

extension Module {
    /// Every module with its output shape for one input of shape `inputShape` (batch included),
    /// found by running one forward pass in evaluation mode without recording a graph.
    ///
    /// The model's training mode and observers are restored afterwards.
    public func summary(inputShape: [Int]) -> [ModelSummaryRow] {
        let modules = namedModules()
        var shapes: [ObjectIdentifier: [Int]] = [:]
        let wasTraining = isTraining
        let savedObservers = modules.map(\.module.forwardObserver)
        let savedBuffers = namedBuffers().map { ($0.tensor, $0.tensor.copy()) }

        for (_, module) in modules {
            module.forwardObserver = { module, _, output in
                shapes[ObjectIdentifier(module)] = output.shape
            }
        }
        setTraining(false)
        _ = GradientMode.withoutGradient { self(Tensor(zeros: inputShape)) }
        setTraining(wasTraining)
        for ((_, module), observer) in zip(modules, savedObservers) {
            module.forwardObserver = observer
        }
        for (buffer, saved) in savedBuffers {
            buffer.assign(from: saved)
        }

        return modules.map { path, module in
            ModelSummaryRow(
                path: path.isEmpty ? "(model)" : path,
                depth: path.isEmpty ? 0 : Module.pathComponents(path).count,
                type: module.typeDescription,
                outputShape: shapes[ObjectIdentifier(module)],
                parameterCount: module.parameterCount)
        }
    }
}
