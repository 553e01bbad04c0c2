import Dispatch
import Foundation

/// The number of threads element-wise kernels split their work across.
public let kernelThreadCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 64))

/// Runs `body(index)` for every index in `0..<iterations`, concurrently, and returns when all
/// have finished, like `DispatchQueue.concurrentPerform`.
///
/// The work runs on the OpenMP thread team that oneDNN's kernels use (libgomp's `GOMP_parallel`),
/// so Swift loops and oneDNN primitives share the same threads. A second pool of threads would
/// compete with OpenMP's workers, which spin for a while after each primitive before they sleep.
/// Without libgomp in the process it falls back to `DispatchQueue.concurrentPerform`.
public func runConcurrently(iterations: Int, _ body: (Int) -> Void) {
    guard iterations > 1 else {
        if iterations == 1 {
            body(0)
        }
        return
    }
    guard let openMP = OpenMPRuntime.shared else {
        DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
        return
    }
    withoutActuallyEscaping(body) { escapingBody in
        var task = OpenMPTask(iterations: iterations, body: escapingBody, threadNumber: openMP.threadNumber,
                              threadCount: openMP.threadCount)
        withUnsafeMutablePointer(to: &task) { pointer in
            openMP.parallel(runOpenMPTask, UnsafeMutableRawPointer(pointer), UInt32(min(iterations, kernelThreadCount)), 0)
        }
    }
}

/// The work of one `runConcurrently` call, read by every thread of the OpenMP team.
private struct OpenMPTask {
    let iterations: Int
    let body: (Int) -> Void
    let threadNumber: @convention(c) () -> Int32
    let threadCount: @convention(c) () -> Int32
}

/// The function each OpenMP thread runs: it takes every `threadCount`-th index from its own number.
private func runOpenMPTask(_ context: UnsafeMutableRawPointer?) {
    let task = context!.assumingMemoryBound(to: OpenMPTask.self)
    let iterations = task.pointee.iterations
    let threads = Int(task.pointee.threadCount())
    var index = Int(task.pointee.threadNumber())
    while index < iterations {
        task.pointee.body(index)
        index += threads
    }
}

/// libgomp's entry points, found at run time because oneDNN links libgomp and Swift cannot
/// import OpenMP pragmas.
private struct OpenMPRuntime {
    typealias Parallel = @convention(c) (
        @convention(c) (UnsafeMutableRawPointer?) -> Void, UnsafeMutableRawPointer?, UInt32, UInt32
    ) -> Void

    let parallel: Parallel
    let threadNumber: @convention(c) () -> Int32
    let threadCount: @convention(c) () -> Int32

    static let shared: OpenMPRuntime? = {
        // Loading oneDNN's engine first makes sure libgomp is in the process.
        _ = OneDNN.shared
        let process = dlopen(nil, RTLD_NOW)
        guard let parallel = dlsym(process, "GOMP_parallel"),
              let threadNumber = dlsym(process, "omp_get_thread_num"),
              let threadCount = dlsym(process, "omp_get_num_threads")
        else {
            return nil
        }
        return OpenMPRuntime(
            parallel: unsafeBitCast(parallel, to: Parallel.self),
            threadNumber: unsafeBitCast(threadNumber, to: (@convention(c) () -> Int32).self),
            threadCount: unsafeBitCast(threadCount, to: (@convention(c) () -> Int32).self))
    }()
}

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
    runConcurrently(iterations: chunks) { chunk in
        let start = chunk * chunkSize
        let end = min(count, start + chunkSize)
        if start < end {
            body(start..<end)
        }
    }
}
