import Foundation
import Tensors

/// Called after a module's forward pass with the module, its input and its output. Probes use it
/// to register gradient hooks; the input and output are fresh graph nodes for this call alone.
public typealias ForwardObserver = (_ module: Module, _ input: Tensor, _ output: Tensor) -> Void

/// A node of a network: a layer or a container of named child modules, with parameters and
/// buffers named as in torchvision (`weight`, `bias`, `running_mean`, ...), so that dotted paths
/// such as `features.0` or `layer3.2.conv1` mean the same as in PyTorch.
open class Module {
    /// Child modules in registration order, as PyTorch's `_modules`.
    public private(set) var children: [(name: String, module: Module)] = []

    /// This module's own parameters in registration order.
    public private(set) var parameters: [(name: String, tensor: Tensor)] = []

    /// This module's own buffers (running statistics), saved in the state dict but not trained.
    public private(set) var buffers: [(name: String, tensor: Tensor)] = []

    /// Whether the module behaves as in training (batch statistics, dropout) or evaluation.
    public private(set) var isTraining = true

    /// When set, wraps each forward pass so the observer can hook this call's input and output.
    public var forwardObserver: ForwardObserver?

    public init() {}

    /// Runs the forward pass and, when an observer is attached, hands it this call's input and output.
    public final func callAsFunction(_ x: Tensor) -> Tensor {
        guard let forwardObserver else {
            return forward(x)
        }
        let input = identity(x)
        let output = identity(forward(input))
        forwardObserver(self, input, output)
        return output
    }

    /// Computes the forward pass, which subclasses override. Call the module itself instead, so observers run.
    open func forward(_ x: Tensor) -> Tensor {
        var output = x
        for (_, child) in children {
            output = child(output)
        }
        return output
    }

    /// The layer's type and settings in torchvision's printout style, e.g. `Conv2d(3, 64, kernel_size=(3, 3))`.
    open var typeDescription: String {
        String(describing: type(of: self))
    }

    // MARK: Registration

    /// Adds a child under `name`, replacing an existing child of that name in place.
    public func register(_ module: Module, as name: String) {
        if let index = children.firstIndex(where: { $0.name == name }) {
            children[index].module = module
        } else {
            children.append((name, module))
        }
    }

    /// Adds a trainable parameter under `name` and marks it as requiring a gradient.
    public func registerParameter(_ tensor: Tensor, as name: String) {
        tensor.requiresGradient = true
        parameters.append((name, tensor))
    }

    /// Adds a buffer under `name`.
    public func registerBuffer(_ tensor: Tensor, as name: String) {
        buffers.append((name, tensor))
    }

    /// Returns the child registered under `name`.
    public func child(named name: String) -> Module? {
        children.first { $0.name == name }?.module
    }

    // MARK: Traversal

    /// This module (path "") and every descendant with its dotted path, depth first in
    /// registration order, as PyTorch's `named_modules()`.
    public func namedModules() -> [(path: String, module: Module)] {
        var result: [(String, Module)] = [("", self)]
        for (name, child) in children {
            for (path, module) in child.namedModules() {
                result.append((path.isEmpty ? name : "\(name).\(path)", module))
            }
        }
        return result
    }

    /// Returns every parameter of the tree with its dotted name (`features.0.weight`), in PyTorch's order.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.parameters.map { (Module.join(path, $0.name), $0.tensor) }
        }
    }

    /// Returns every buffer of the tree with its dotted name.
    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.buffers.map { (Module.join(path, $0.name), $0.tensor) }
        }
    }

    /// The total number of trainable parameter values.
    public var parameterCount: Int {
        namedParameters().reduce(0) { $0 + $1.tensor.count }
    }

    /// Finds the module at a dotted path (`features.0`, `layer1.0.downsample.1`); index spellings such
    /// as `features[0]` are accepted. The empty path is this module.
    public func module(at path: String) -> Module? {
        var current: Module = self
        for component in Module.pathComponents(path) {
            guard let next = current.child(named: component) else {
                return nil
            }
            current = next
        }
        return current
    }

    /// Splits a path into child names, reading `features[0]` as `features.0`.
    public static func pathComponents(_ path: String) -> [String] {
        dottedPath(path).split(separator: ".").map(String.init)
    }

    /// Returns whether `path` names a module without empty or blank parts: `features.0` and
    /// `features[0]` are well formed, while ``, `features..0`, `.features` and `features 0` are not.
    public static func isWellFormedPath(_ path: String) -> Bool {
        let components = dottedPath(path).split(separator: ".", omittingEmptySubsequences: false)
        return !path.isEmpty && !components.contains(where: \.isEmpty) && !path.contains(where: \.isWhitespace)
    }

    /// Rewrites the bracket spelling `features[0]` as `features.0`.
    private static func dottedPath(_ path: String) -> String {
        path.replacingOccurrences(of: "[", with: ".").replacingOccurrences(of: "]", with: "")
    }

    /// Returns the canonical dotted spelling of a path, e.g. `features[0]` becomes `features.0`.
    public static func canonicalPath(_ path: String) -> String {
        pathComponents(path).joined(separator: ".")
    }

    static func join(_ path: String, _ name: String) -> String {
        path.isEmpty ? name : "\(path).\(name)"
    }

    // MARK: Mode

    /// Switches this module and its descendants to training or evaluation behaviour.
    public func setTraining(_ training: Bool) {
        for (_, module) in namedModules() {
            module.isTraining = training
        }
    }

    /// Clears the gradients of every parameter.
    public func zeroGradients() {
        for (_, parameter) in namedParameters() {
            parameter.grad = nil
        }
    }
}

extension Module: CustomStringConvertible {
    /// The module tree in torchvision's printout style.
    public var description: String {
        describe(indent: "")
    }

    private func describe(indent: String) -> String {
        guard !children.isEmpty else {
            return typeDescription
        }
        var lines = ["\(typeDescription)("]
        for (name, child) in children {
            lines.append("\(indent)  (\(name)): \(child.describe(indent: indent + "  "))")
        }
        lines.append("\(indent))")
        return lines.joined(separator: "\n")
    }
}
