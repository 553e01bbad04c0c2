import Foundation

/// A strided view into a flat storage: the element at index `i` is at
/// `offset + Σ i[axis] * strides[axis]`, all in elements.
struct StridedLayout {
    let offset: Int
    let shape: [Int]
    let strides: [Int]

    /// The number of elements of the view.
    var elementCount: Int? {
        StoredTensor.elementCount(of: shape)
    }

    /// Whether the view is the row-major layout of its shape (sizes of 1 may have any stride).
    var isContiguous: Bool {
        var expected = 1
        for axis in shape.indices.reversed() {
            if shape[axis] != 1 && strides[axis] != expected {
                return false
            }
            expected *= shape[axis]
        }
        return true
    }

    /// The number of storage elements the view needs: one past its last element, 0 for an empty view,
    /// or nil when a value is negative or the arithmetic overflows.
    var requiredStorageCount: Int? {
        guard offset >= 0, shape.count == strides.count, let count = elementCount else {
            return nil
        }
        if count == 0 {
            return 0
        }
        var last = offset
        for axis in shape.indices {
            guard strides[axis] >= 0 else {
                return nil
            }
            let (step, stepOverflow) = (shape[axis] - 1).multipliedReportingOverflow(by: strides[axis])
            let (sum, sumOverflow) = last.addingReportingOverflow(step)
            guard !stepOverflow, !sumOverflow else {
                return nil
            }
            last = sum
        }
        return last + 1
    }

    /// Copies the view's elements into new contiguous row-major bytes.
    ///
    /// The caller has checked that `source` contains `requiredStorageCount` elements of `elementSize` bytes.
    func gather(from source: UnsafeRawBufferPointer, elementSize: Int) -> Data {
        let count = elementCount ?? 0
        var result = Data(count: count * elementSize)
        guard count > 0 else {
            return result
        }
        let rank = shape.count
        let innerSize = rank == 0 ? 1 : shape[rank - 1]
        let innerStride = rank == 0 ? 0 : strides[rank - 1]
        let outerCount = count / innerSize

        result.withUnsafeMutableBytes { (destination: UnsafeMutableRawBufferPointer) in
            var index = [Int](repeating: 0, count: max(rank - 1, 0))
            var written = 0
            for _ in 0..<outerCount {
                var start = offset
                for axis in 0..<index.count {
                    start += index[axis] * strides[axis]
                }
                if innerStride == 1 {
                    let byteCount = innerSize * elementSize
                    (destination.baseAddress! + written).copyMemory(
                        from: source.baseAddress! + start * elementSize, byteCount: byteCount)
                    written += byteCount
                } else {
                    for inner in 0..<innerSize {
                        (destination.baseAddress! + written).copyMemory(
                            from: source.baseAddress! + (start + inner * innerStride) * elementSize, byteCount: elementSize)
                        written += elementSize
                    }
                }
                // Advance the multi-dimensional index over all axes but the last, last axis fastest.
                var axis = index.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] {
                        break
                    }
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return result
    }

    /// The column-major (Fortran) strides of a shape.
    static func fortranStrides(of shape: [Int]) -> [Int] {
        var strides: [Int] = []
        var step = 1
        for size in shape {
            strides.append(step)
            step *= size
        }
        return strides
    }
}
