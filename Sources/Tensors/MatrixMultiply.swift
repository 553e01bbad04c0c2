import CDNNL

/// `x` `[N, in] · weightᵀ` with `weight` `[out, in]`, plus `bias` `[out]`, giving `[N, out]`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(x.rank == 2, "linear: x must be [N, in], got shape \(x.shape)")
    precondition(weight.rank == 2, "linear: weight must be [out, in], got shape \(weight.shape)")
    precondition(
        weight.shape[1] == x.shape[1],
        "linear: weight shape \(weight.shape) expects \(weight.shape[1]) input features, x has \(x.shape[1])")
    let rows = x.shape[0]
    let inputFeatures = x.shape[1]
    let outputFeatures = weight.shape[0]
    if let bias {
        precondition(bias.shape == [outputFeatures], "linear: bias must have shape [\(outputFeatures)], got \(bias.shape)")
    }

    let output = Tensor.uninitialized([rows, outputFeatures])
    if rows < outputFeatures {
        multiplyTransposed(x, weight: weight, bias: bias, into: output)
    } else {
        var accumulate: Float = 0
        if let bias {
            // Every row starts as the bias, and the product is accumulated onto it (beta = 1).
            for row in 0..<rows {
                (output.storage.pointer + row * outputFeatures).update(from: bias.storage.pointer, count: outputFeatures)
            }
            accumulate = 1
        }
        multiplyMatrices(
            x, transposed: false, weight, transposed: true, into: output, rows: rows, columns: outputFeatures,
            inner: inputFeatures, accumulate: accumulate)
    }

    var inputs = [x, weight]
    if let bias {
        inputs.append(bias)
    }
    return Tensor.recordKernelOperation(output, inputs: inputs) { gradient in
        var inputGradient: Tensor?
        var weightGradient: Tensor?
        if x.requiresGradient {
            // dx = dy · weight, [N, out] · [out, in].
            let result = Tensor.uninitialized([rows, inputFeatures])
            multiplyMatrices(
                gradient, transposed: false, weight, transposed: false, into: result, rows: rows,
                columns: inputFeatures, inner: outputFeatures)
            inputGradient = result
        }
        if weight.requiresGradient {
            // dW = dyᵀ · x, [out, N] · [N, in].
            let result = Tensor.uninitialized([outputFeatures, inputFeatures])
            multiplyMatrices(
                gradient, transposed: true, x, transposed: false, into: result, rows: outputFeatures,
                columns: inputFeatures, inner: rows)
            weightGradient = result
        }
        var gradients = [inputGradient, weightGradient]
        if let bias {
            gradients.append(bias.requiresGradient ? sumColumns(gradient) : nil)
        }
        return gradients
    }
}

/// Computes `x · weightᵀ + bias` as `(weight · xᵀ)ᵀ + bias`, for batches smaller than the
/// output width. oneDNN 2.6's `dnnl_sgemm` runs `x · weightᵀ` with a short `x` several times
/// slower than `weight · xᵀ` (240 ms against 43 to 79 ms for VGG's 25088->4096 layer at batch 32,
/// 2 threads, on the benchmark machine).
///
/// Each thread multiplies its own block of output features and transposes it into place, so the
/// transpose runs in parallel while its block is still in cache. Inside the parallel region
/// oneDNN runs each product on the calling thread. Two such halves beat one two-thread sgemm on
/// the MLP's layers (1.15 against 1.41 ms for 3072->256 at batch 128, on the benchmark machine).
private func multiplyTransposed(_ x: Tensor, weight: Tensor, bias: Tensor?, into output: Tensor) {
    let rows = x.shape[0]
    let inputFeatures = x.shape[1]
    let outputFeatures = weight.shape[0]
    let transposed = Tensor.uninitialized([outputFeatures, rows])

    let operations = rows * outputFeatures * inputFeatures
    let blocks = operations >= 1 << 20 ? max(1, min(kernelThreadCount, outputFeatures / 16)) : 1
    let blockSize = ((outputFeatures + blocks - 1) / blocks + 15) / 16 * 16
    withExtendedLifetime((x, weight, bias, transposed, output)) {
        let inputs = x.storage.pointer
        let weights = weight.storage.pointer
        let source = transposed.storage.pointer
        let destination = output.storage.pointer
        let biasValues = bias?.storage.pointer
        runConcurrently(iterations: blocks) { block in
            let features = (block * blockSize)..<min(outputFeatures, (block + 1) * blockSize)
            guard !features.isEmpty else {
                return
            }
            sgemm(
                transposeA: false, transposeB: true, rows: features.count, columns: rows, inner: inputFeatures,
                a: weights + features.lowerBound * inputFeatures, leadingA: inputFeatures,
                b: inputs, leadingB: inputFeatures,
                accumulate: 0, result: source + features.lowerBound * rows, leadingResult: rows)

            for row in 0..<rows {
                let outputRow = destination + row * outputFeatures
                for feature in features {
                    outputRow[feature] = source[feature * rows + row]
                }
                if let biasValues {
                    for feature in features {
                        outputRow[feature] += biasValues[feature]
                    }
                }
            }
        }
    }
}

/// The matrix product of `a` `[M, K]` and `b` `[K, N]`, giving `[M, N]`.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank == 2, "matmul: a must be [M, K], got shape \(a.shape)")
    precondition(b.rank == 2, "matmul: b must be [K, N], got shape \(b.shape)")
    precondition(a.shape[1] == b.shape[0], "matmul: inner dimensions differ, a is \(a.shape) and b is \(b.shape)")
    let rows = a.shape[0]
    let inner = a.shape[1]
    let columns = b.shape[1]

    let output = Tensor.uninitialized([rows, columns])
    multiplyMatrices(a, transposed: false, b, transposed: false, into: output, rows: rows, columns: columns, inner: inner)

    return Tensor.recordOperation(output, inputs: [a, b]) { gradient in
        var aGradient: Tensor?
        var bGradient: Tensor?
        if a.requiresGradient {
            // da = dc · bᵀ, [M, N] · [N, K].
            let result = Tensor.uninitialized([rows, inner])
            multiplyMatrices(gradient, transposed: false, b, transposed: true, into: result, rows: rows, columns: inner, inner: columns)
            aGradient = result
        }
        if b.requiresGradient {
            // db = aᵀ · dc, [K, M] · [M, N].
            let result = Tensor.uninitialized([inner, columns])
            multiplyMatrices(a, transposed: true, gradient, transposed: false, into: result, rows: inner, columns: columns, inner: rows)
            bGradient = result
        }
        return [aGradient, bGradient]
    }
}

/// `result = op(a) · op(b) + accumulate * result` with oneDNN's row-major `dnnl_sgemm`, where
/// `op` transposes the stored matrix when asked. `op(a)` is `[rows, inner]`, `op(b)` is
/// `[inner, columns]` and `result` is `[rows, columns]`.
func multiplyMatrices(
    _ a: Tensor, transposed transposeA: Bool, _ b: Tensor, transposed transposeB: Bool, into result: Tensor,
    rows: Int, columns: Int, inner: Int, accumulate: Float = 0
) {
    if rows == 0 || columns == 0 {
        return
    }
    if inner == 0 {
        // sgemm would leave the result untouched; the product of empty matrices is zero.
        result.scaleInPlace(by: accumulate)
        return
    }
    withExtendedLifetime((a, b, result)) {
        // Leading dimensions are the row lengths of the matrices as stored.
        sgemm(
            transposeA: transposeA, transposeB: transposeB, rows: rows, columns: columns, inner: inner,
            a: a.storage.pointer, leadingA: transposeA ? rows : inner,
            b: b.storage.pointer, leadingB: transposeB ? inner : columns,
            accumulate: accumulate, result: result.storage.pointer, leadingResult: columns)
    }
}

/// Computes `result = op(a) · op(b) + accumulate * result` with oneDNN's row-major `dnnl_sgemm`
/// on raw storage. `op(a)` is `[rows, inner]` and `op(b)` `[inner, columns]`. Each leading
/// dimension is the row length of its matrix as stored.
private func sgemm(
    transposeA: Bool, transposeB: Bool, rows: Int, columns: Int, inner: Int,
    a: UnsafePointer<Float>, leadingA: Int, b: UnsafePointer<Float>, leadingB: Int,
    accumulate: Float, result: UnsafeMutablePointer<Float>, leadingResult: Int
) {
    let transposeFlag = CChar(UInt8(ascii: "T"))
    let keepFlag = CChar(UInt8(ascii: "N"))
    let status = dnnl_sgemm(
        transposeA ? transposeFlag : keepFlag, transposeB ? transposeFlag : keepFlag, dnnl_dim_t(rows),
        dnnl_dim_t(columns), dnnl_dim_t(inner), 1, a, dnnl_dim_t(leadingA), b, dnnl_dim_t(leadingB), accumulate,
        result, dnnl_dim_t(leadingResult))
    checkOneDNN(status, "dnnl_sgemm(\(rows)x\(inner) · \(inner)x\(columns))")
}

/// The sum over rows of a `[rows, columns]` matrix, `[columns]`, accumulated in double precision.
func sumColumns(_ matrix: Tensor) -> Tensor {
    let rows = matrix.shape[0]
    let columns = matrix.shape[1]
    var totals = [Double](repeating: 0, count: columns)
    let source = matrix.storage.pointer
    for row in 0..<rows {
        for column in 0..<columns {
            totals[column] += Double(source[row * columns + column])
        }
    }
    return Tensor(totals.map { Float($0) }, shape: [columns])
}
