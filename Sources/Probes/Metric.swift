/// A per-batch quantity a probe records for its layer. Raw values are the names used in CSV
/// columns, TensorBoard tags and `--metric` options.
public enum Metric: String, CaseIterable, Codable, Sendable {
    /// ‖dLoss/d output‖ over the whole batch tensor: the original notebook's `grad_output[0].norm()`.
    case gradOutputL2 = "grad_output_l2"
    /// `grad_output_l2 / √(element count)`, comparable across layers of different sizes.
    case gradOutputRMS = "grad_output_rms"
    /// ‖dLoss/d input‖ of the gradient that flows through this layer alone (empty for the first layer).
    case gradInputL2 = "grad_input_l2"
    /// ‖dLoss/d weight‖.
    case weightGradL2 = "weight_grad_l2"
    /// ‖dLoss/d bias‖ (empty for layers without a bias).
    case biasGradL2 = "bias_grad_l2"
    /// ‖weight‖ before the optimizer step.
    case weightL2 = "weight_l2"
    /// ‖weight after the step − weight before‖ / ‖weight before‖.
    case updateRatio = "update_ratio"
    /// The fraction of `grad_output` elements that are exactly zero (for a layer followed by
    /// ReLU, the fraction of inactive units).
    case zeroFraction = "zero_fraction"
    /// The number of NaN or infinite elements in `grad_output`, `grad_input` and the parameter gradients.
    case nonfiniteCount = "nonfinite_count"

    /// The CSV column or tag name.
    public var name: String { rawValue }
}

/// One probe's metrics for one batch; a metric that does not apply (no bias, no input gradient)
/// is NaN and written as an empty CSV field.
public struct ProbeRecord: Equatable, Sendable {
    public var probe: String
    public var path: String
    public var values: [Metric: Double]

    public init(probe: String, path: String, values: [Metric: Double] = [:]) {
        self.probe = probe
        self.path = path
        self.values = values
    }

    public subscript(_ metric: Metric) -> Double {
        values[metric] ?? .nan
    }
}
