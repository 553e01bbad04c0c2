import Foundation
import Tensors

/// The largest disagreement found by `checkGradients` between analytic and numerical gradients.
public struct GradientCheckResult {
    /// Largest `|analytic - numeric| / max(|analytic|, |numeric|, floor)` over all checked elements.
    public var maximumRelativeError: Double
    /// Input index, element index, analytic and numeric value at that maximum.
    public var worst: (input: Int, element: Int, analytic: Double, numeric: Double)
}

/// Compares the gradients that `backward()` computes for each of `inputs` with central finite
/// differences of the scalar `sum(f(inputs) * projection)`, where `projection` is a fixed random
/// tensor so every output element contributes with a different weight.
///
/// Each input element is moved by `±step`; the objective is evaluated in double precision from
/// the float32 outputs. `floor` keeps tiny gradients from dominating the relative error.
public func checkGradients(
    of inputs: [Tensor], step: Float = 1e-2, floor: Double = 1e-2, seed: UInt64 = 99,
    _ function: ([Tensor]) -> Tensor
) -> GradientCheckResult {
    for input in inputs {
        input.requiresGradient = true
        input.grad = nil
    }

    let probe = function(inputs)
    var generator = RandomGenerator(seed: seed)
    let projection = Tensor.randomNormal(probe.shape, generator: &generator)
    let weights = projection.scalars

    func objective() -> Double {
        let output = GradientMode.withoutGradient { function(inputs) }.scalars
        var total = 0.0
        for (value, weight) in zip(output, weights) {
            total += Double(value) * Double(weight)
        }
        return total
    }

    let output = function(inputs)
    sum(output * projection).backward()

    var result = GradientCheckResult(maximumRelativeError: 0, worst: (0, 0, 0, 0))
    for (inputIndex, input) in inputs.enumerated() {
        let analytic = input.grad?.scalars ?? Array(repeating: 0, count: input.count)
        for element in 0..<input.count {
            let original = input.storage.pointer[element]
            input.storage.pointer[element] = original + step
            let plus = objective()
            input.storage.pointer[element] = original - step
            let minus = objective()
            input.storage.pointer[element] = original

            let numeric = (plus - minus) / (2 * Double(step))
            let difference = abs(Double(analytic[element]) - numeric)
            let relative = difference / max(abs(Double(analytic[element])), abs(numeric), floor)
            if relative > result.maximumRelativeError {
                result.maximumRelativeError = relative
                result.worst = (inputIndex, element, Double(analytic[element]), numeric)
            }
        }
    }
    return result
}
