import XCTest

@testable import Tensors

/// Asserts that two equally long value lists agree within `absolute + relative * |expected|`
/// per element, naming the first element that does not.
func assertClose(
    _ actual: [Float], _ expected: [Float], absolute: Float = 1e-5, relative: Float = 1e-4, _ context: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "\(context): element count", file: file, line: line)
    for index in 0..<min(actual.count, expected.count) {
        let tolerance = absolute + relative * abs(expected[index])
        if !(abs(actual[index] - expected[index]) <= tolerance) {
            XCTFail(
                "\(context): element \(index) is \(actual[index]), expected \(expected[index]) (tolerance \(tolerance))",
                file: file, line: line)
            return
        }
    }
}

/// A tensor whose values are a shuffled arithmetic sequence `offset + spacing * k`, so that no
/// two elements are closer than `spacing`: max pooling then has no ties, even after a
/// finite-difference step smaller than `spacing / 2`.
func distinctValues(_ shape: [Int], spacing: Float = 0.1, seed: UInt64) -> Tensor {
    let count = shape.reduce(1, *)
    var generator = RandomGenerator(seed: seed)
    var order = Array(0..<count)
    for index in stride(from: count - 1, to: 0, by: -1) {
        let other = Int(generator.next() % UInt64(index + 1))
        order.swapAt(index, other)
    }
    let offset = -Float(count) * spacing / 2
    return Tensor(order.map { offset + spacing * Float($0) }, shape: shape)
}
