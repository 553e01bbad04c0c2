import Dispatch
import Foundation

/// The number of threads element-wise kernels split their work across.
public let kernelThreadCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 64))

/// Runs `body` over `0..<count` split into contiguous chunks, one per core, on the calling
/// thread alone when the work is too small to be worth a hand-off.
@inline(__always)
func parallelChunks(_ count: Int, minimumChunk: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let chunks = min(kernelThreadCount, max(1, count / minimumChunk))
    if chunks == 1 {
        body(0..<count)
        return
    }
    let chunkSize = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = chunk * chunkSize
        let end = min(count, start + chunkSize)
        if start < end {
            body(start..<end)
        }
    }
}
