import Foundation

/// Mean cross-entropy between `logits` `[N, K]` and integer class `labels` (N values in `0..<K`),
/// as `torch.nn.CrossEntropyLoss(reduction: "mean")`. Computed with the log-sum-exp shift, so large
/// logits do not overflow.
public func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
    precondition(logits.rank == 2, "crossEntropy expects logits of shape [N, K], got \(logits.shape)")
    let batch = logits.shape[0]
    let classes = logits.shape[1]
    precondition(labels.count == batch, "crossEntropy: \(labels.count) labels for a batch of \(batch)")
    for label in labels {
        precondition(label >= 0 && label < classes, "crossEntropy: label \(label) is outside 0..<\(classes)")
    }

    let probabilities = Tensor.uninitialized(logits.shape)
    var total = 0.0
    for row in 0..<batch {
        let values = logits.storage.pointer + row * classes
        let softmax = probabilities.storage.pointer + row * classes
        var largest = -Float.infinity
        for k in 0..<classes {
            largest = max(largest, values[k])
        }
        var denominator = 0.0
        for k in 0..<classes {
            let e = Foundation.exp(Double(values[k] - largest))
            softmax[k] = Float(e)
            denominator += e
        }
        for k in 0..<classes {
            softmax[k] = Float(Double(softmax[k]) / denominator)
        }
        total += Foundation.log(denominator) + Double(largest) - Double(values[labels[row]])
    }

    let output = Tensor(scalar: Float(total / Double(batch)))
    return Tensor.recordOperation(output, inputs: [logits]) { gradient in
        let scale = gradient.item / Float(batch)
        let result = probabilities.copy()
        for row in 0..<batch {
            result.storage.pointer[row * classes + labels[row]] -= 1
        }
        result.scaleInPlace(by: scale)
        return [result]
    }
}
