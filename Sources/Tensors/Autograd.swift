import Foundation

/// The record of one operation in the graph: the inputs it read and how to turn the gradient
/// of its output into gradients of those inputs.
final class GraphNode {
    let inputs: [Tensor]

    /// Maps the output's gradient to one gradient per input (nil where an input needs none).
    /// A returned tensor may share storage with the output's gradient or with another input's,
    /// but with no forward value, because a leaf keeps its gradient's storage as its `grad`.
    let backward: (Tensor) -> [Tensor?]

    /// Whether an element-wise consumer whose backward pass needs only its own output may take
    /// this node over (see `recordOutputOnlyOperation`). Set for kernels (convolution, linear,
    /// batch norm, addition), never for `identity`, whose output is where hooks go.
    var isAbsorbable = false

    init(inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether operations record a graph. Evaluation turns it off with `withoutGradient`.
public enum GradientMode {
    nonisolated(unsafe) private static var disabledDepth = 0

    /// Whether operations currently record the graph.
    public static var isEnabled: Bool { disabledDepth == 0 }

    /// Runs `body` without recording a graph, as `torch.no_grad()` does.
    ///
    /// NOTE: the switch is process-wide, not per thread; the training loop is single-threaded
    /// apart from kernels, which never record graphs.
    public static func withoutGradient<Result>(_ body: () throws -> Result) rethrows -> Result {
        disabledDepth += 1
        defer { disabledDepth -= 1 }
        return try body()
    }
}

extension Tensor {
    /// Wraps a freshly computed `result` as the output of an operation on `inputs`, recording
    /// `backward` when gradient mode is on and any input requires a gradient.
    public static func recordOperation(
        _ result: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard GradientMode.isEnabled, inputs.contains(where: { $0.requiresGradient }) else {
            return result
        }
        result.requiresGradient = true
        result.node = GraphNode(inputs: inputs, backward: backward)
        return result
    }

    /// Records a kernel's result like `recordOperation`, and lets an element-wise consumer take
    /// its node over.
    static func recordKernelOperation(
        _ result: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        let output = recordOperation(result, inputs: inputs, backward: backward)
        output.node?.isAbsorbable = true
        return output
    }

    /// Records an element-wise operation on `x` whose backward pass, `backward`, reads only the
    /// operation's gradient and values it captured (such as the result), never `x`.
    ///
    /// When `x` comes straight from a kernel and has no gradient hooks, the new node replaces
    /// `x` in the graph: it takes the kernel's inputs and runs both backward passes in turn. The
    /// graph then no longer keeps `x` alive, which halves the activations a convolution followed
    /// by ReLU keeps for backward. `x` keeps its own node, so a gradient that reaches `x` through
    /// another use still flows. Hooks can no longer be registered on `x` afterwards.
    static func recordOutputOnlyOperation(
        _ result: Tensor, input x: Tensor, backward: @escaping (Tensor) -> Tensor
    ) -> Tensor {
        guard GradientMode.isEnabled, x.requiresGradient, let parent = x.node, parent.isAbsorbable,
              x.gradientHooks.isEmpty
        else {
            return recordOperation(result, inputs: [x]) { gradient in
                [backward(gradient)]
            }
        }
        x.isAbsorbed = true
        let parentBackward = parent.backward
        return recordOperation(result, inputs: parent.inputs) { gradient in
            parentBackward(backward(gradient))
        }
    }

    /// Whether this tensor is the output of a recorded operation.
    public var hasGraph: Bool { node != nil }

    /// Registers `hook` to be called once, during `backward()`, with this tensor's final gradient
    /// (the sum of all contributions). Probes use it on module inputs and outputs.
    ///
    /// Register hooks before passing the tensor to `relu`, `sigmoid` or `tanh`, which may take
    /// the tensor's place in the graph (see `recordOutputOnlyOperation`).
    public func registerGradientHook(_ hook: @escaping (Tensor) -> Void) {
        precondition(
            !isAbsorbed,
            "registerGradientHook: the tensor of shape \(shape) was already replaced in the graph by an element-wise operation; register the hook before applying relu, sigmoid or tanh to it")
        gradientHooks.append(hook)
    }

    /// Computes the gradient of this scalar with respect to every tensor that requires one,
    /// accumulating into the `grad` of leaves, then frees the graph.
    ///
    /// - Parameter gradient: the gradient of the final objective with respect to this tensor;
    ///   omitted for a one-element tensor, where it is 1.
    public func backward(gradient: Tensor? = nil) {
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "backward: gradient has shape \(gradient.shape), tensor has \(shape)")
            seed = gradient
        } else {
            precondition(count == 1, "backward() without a gradient needs a one-element tensor, this one has shape \(shape)")
            seed = Tensor(repeating: 1, shape: shape)
        }
        guard requiresGradient else {
            return
        }

        // Each tensor leaves the order once handled, so an intermediate result is freed as soon as
        // nothing else references it, not when the pass ends (300 MiB of a VGG19 224x224 batch-8 step).
        var order: [Tensor?] = topologicalOrder()

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        // Storage that a leaf's `grad` may not take over: the caller's seed, and buffers already
        // given to another leaf in this pass (`add` returns one gradient for both inputs).
        var claimedStorage: Set<ObjectIdentifier> = [ObjectIdentifier(seed.storage)]
        for index in order.indices.reversed() {
            let tensor = order[index]!
            order[index] = nil
            guard let gradient = pending.removeValue(forKey: ObjectIdentifier(tensor)) else {
                tensor.node = nil
                continue
            }
            for hook in tensor.gradientHooks {
                hook(gradient)
            }
            guard let node = tensor.node else {
                tensor.accumulateLeafGradient(gradient, claimedStorage: &claimedStorage)
                continue
            }
            tensor.node = nil

            let inputGradients = node.backward(gradient)
            precondition(inputGradients.count == node.inputs.count, "an operation returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
            for (input, inputGradient) in zip(node.inputs, inputGradients) {
                guard input.requiresGradient, let inputGradient else {
                    continue
                }
                precondition(inputGradient.shape == input.shape, "an operation returned a gradient of shape \(inputGradient.shape) for an input of shape \(input.shape)")
                let key = ObjectIdentifier(input)
                if let existing = pending[key] {
                    pending[key] = existing.adding(inputGradient)
                } else {
                    pending[key] = inputGradient
                }
            }
        }
    }

    /// Tensors reachable from this one through recorded operations, each after all its inputs.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(tensor: Tensor, expanded: Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded {
                order.append(tensor)
                continue
            }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else {
                continue
            }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.requiresGradient {
                if !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        return order
    }

    /// Sets or adds to `grad`. The first gradient is kept without a copy when no other leaf
    /// holds its storage and it is not the caller's seed; later ones are added into a new buffer,
    /// so autograd never writes into a `grad` buffer that something else may share.
    private func accumulateLeafGradient(_ gradient: Tensor, claimedStorage: inout Set<ObjectIdentifier>) {
        guard requiresGradient else {
            return
        }
        if let grad {
            self.grad = grad.adding(gradient)
        } else if claimedStorage.insert(ObjectIdentifier(gradient.storage)).inserted {
            // A fresh tensor object, so `grad` carries no graph node or hooks of the gradient.
            grad = Tensor(shape: shape, storage: gradient.storage)
        } else {
            grad = gradient.copy()
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGradient() {
        grad = nil
    }
}
