import Tensors

/// `max(x, 0)` element-wise; any shape.
public final class ReLU: Module {
    public override func forward(_ x: Tensor) -> Tensor { relu(x) }

    /// Returns `self(a + b)`. Without a forward observer the sum is not stored: one pass adds and
    /// applies the ReLU.
    public func callAsFunction(sum a: Tensor, _ b: Tensor) -> Tensor {
        guard forwardObserver == nil, a.shape == b.shape else {
            return self(a + b)
        }
        return reluOfSum(a, b)
    }
    public override var typeDescription: String { "ReLU()" }
}

/// The logistic sigmoid element-wise; any shape.
public final class Sigmoid: Module {
    public override func forward(_ x: Tensor) -> Tensor { sigmoid(x) }
    public override var typeDescription: String { "Sigmoid()" }
}

/// The hyperbolic tangent element-wise; any shape.
public final class Tanh: Module {
    public override func forward(_ x: Tensor) -> Tensor { tanh(x) }
    public override var typeDescription: String { "Tanh()" }
}

/// An element-wise nonlinearity chosen by name, for models built from options.
public enum Activation: String, CaseIterable, Codable, Sendable {
    case relu
    case sigmoid
    case tanh

    /// A new module applying this activation.
    public func makeModule() -> Module {
        switch self {
        case .relu: ReLU()
        case .sigmoid: Sigmoid()
        case .tanh: Tanh()
        }
    }
}
