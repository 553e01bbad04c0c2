import TestSupport
import XCTest

@testable import Tensors

final class StorageAndOwnershipTests: XCTestCase {
    func testSizeClassRounding() {
        XCTAssertEqual(StoragePool.sizeClass(of: 100), 100)
        XCTAssertEqual(StoragePool.sizeClass(of: 1 << 16), 1 << 16)
        // 65537 bytes: the highest power of two is 65536, a class step is 8192.
        XCTAssertEqual(StoragePool.sizeClass(of: 65_537), 65_536 + 8_192)
        XCTAssertEqual(StoragePool.sizeClass(of: 3 << 20), 3 << 20)
        XCTAssertEqual(StoragePool.sizeClass(of: (3 << 20) + 1), (3 << 20) + (1 << 18))
    }

    func testPoolReusesFreedBuffer() {
        let count = 300_000
        var first: Tensor? = Tensor(repeating: 7, shape: [count])
        let address = first!.storage.pointer
        first = nil
        let second = Tensor.uninitialized([count])
        XCTAssertEqual(second.storage.pointer, address)
        XCTAssertGreaterThanOrEqual(second.storage.count, count)
    }

    func testZerosAfterReuseAreZero() {
        let count = 300_000
        var first: Tensor? = Tensor(repeating: 7, shape: [count])
        first = nil
        let zeros = Tensor(zeros: [count])
        XCTAssertEqual(zeros.scalars.first { $0 != 0 }, nil)
        XCTAssertNil(first)
    }

    func testReleaseCachedBuffersEmptiesPool() {
        var tensor: Tensor? = Tensor(zeros: [300_000])
        tensor = nil
        XCTAssertGreaterThan(TensorStorage.cachedBytes, 0)
        TensorStorage.releaseCachedBuffers()
        XCTAssertEqual(TensorStorage.cachedBytes, 0)
        XCTAssertNil(tensor)
    }

    func testPoolReusesLargerClasses() {
        let pool = StoragePool(limitBytes: 1 << 30, slackBytes: 1 << 30)
        let mebibyte = 1 << 20

        let first = pool.allocate(bytes: 2 * mebibyte)
        pool.release(first.pointer, bytes: first.allocatedBytes)
        let again = pool.allocate(bytes: 2 * mebibyte - 100)
        XCTAssertEqual(again.pointer, first.pointer)
        XCTAssertEqual(again.allocatedBytes, 2 * mebibyte)

        // 1.25 MiB is its own class; an idle 2 MiB buffer is at most twice as large and serves it.
        pool.release(again.pointer, bytes: again.allocatedBytes)
        let smaller = pool.allocate(bytes: 5 * mebibyte / 4)
        XCTAssertEqual(smaller.pointer, first.pointer)
        XCTAssertEqual(smaller.allocatedBytes, 2 * mebibyte)

        // An idle 2 MiB buffer is more than twice 0.75 MiB: a fresh buffer is mapped.
        pool.release(smaller.pointer, bytes: smaller.allocatedBytes)
        let tiny = pool.allocate(bytes: 3 * mebibyte / 4)
        XCTAssertNotEqual(tiny.pointer, first.pointer)
        XCTAssertEqual(tiny.allocatedBytes, 3 * mebibyte / 4)
        pool.release(tiny.pointer, bytes: tiny.allocatedBytes)
        pool.releaseAll()
        XCTAssertEqual(pool.cachedBytes, 0)
    }

    func testPoolUnmapsOldestBeyondPeak() {
        let pool = StoragePool(limitBytes: 1 << 30, slackBytes: 0)
        let mebibyte = 1 << 20

        // Two 4 MiB buffers in use at once: the peak in use is 8 MiB.
        let older = pool.allocate(bytes: 4 * mebibyte)
        let newer = pool.allocate(bytes: 4 * mebibyte)
        pool.release(older.pointer, bytes: older.allocatedBytes)
        pool.release(newer.pointer, bytes: newer.allocatedBytes)
        XCTAssertEqual(pool.cachedBytes, 8 * mebibyte)

        // A 1 MiB miss would make 9 MiB in use and kept: the older 4 MiB buffer goes.
        let small = pool.allocate(bytes: mebibyte)
        XCTAssertEqual(pool.cachedBytes, 4 * mebibyte)
        let reused = pool.allocate(bytes: 4 * mebibyte)
        XCTAssertEqual(reused.pointer, newer.pointer)

        pool.release(small.pointer, bytes: small.allocatedBytes)
        pool.release(reused.pointer, bytes: reused.allocatedBytes)
        pool.releaseAll()
    }

    func testPoolRespectsLimit() {
        let pool = StoragePool(limitBytes: 1 << 20, slackBytes: 1 << 30)
        let buffer = pool.allocate(bytes: 4 << 20)
        buffer.pointer.storeBytes(of: 1, as: Float.self)
        pool.release(buffer.pointer, bytes: buffer.allocatedBytes)
        XCTAssertEqual(pool.cachedBytes, 0)
    }

    func testSharedGradientIsNotAliased() {
        // add returns the same gradient tensor for both inputs, so the two leaves must not end
        // up sharing one buffer that a later accumulation would change for both.
        let a = Tensor([1, 2], shape: [2], requiresGradient: true)
        let b = Tensor([3, 4], shape: [2], requiresGradient: true)
        sum(a + b).backward()
        XCTAssertFalse(a.grad!.storage === b.grad!.storage)

        // A second pass adds d/da (3a) = 3 to a's gradient only.
        sum(a * 3).backward()
        XCTAssertEqual(a.grad?.scalars, [4, 4])
        XCTAssertEqual(b.grad?.scalars, [1, 1])
    }

    func testSeedGradientIsCopied() {
        let x = Tensor([1, 2], shape: [2], requiresGradient: true)
        let seed = Tensor([5, 6], shape: [2])
        identity(x).backward(gradient: seed)
        seed.fill(0)
        XCTAssertEqual(x.grad?.scalars, [5, 6])
    }

    func testLeafGradientHasNoGraph() {
        let weight = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGradient: true)
        let x = Tensor([1, -1], shape: [1, 2], requiresGradient: true)
        sum(linear(x, weight: weight, bias: nil)).backward()
        // dL/dW = dyᵀ · x with dy = [1, 1]: each row is x.
        XCTAssertEqual(weight.grad?.scalars, [1, -1, 1, -1])
        XCTAssertFalse(weight.grad!.hasGraph)
        XCTAssertFalse(weight.grad!.requiresGradient)
    }

    func testRunConcurrentlyVisitsEachIndexOnce() {
        let iterations = 37
        var visits = [Int](repeating: 0, count: iterations)
        visits.withUnsafeMutableBufferPointer { buffer in
            let pointer = buffer.baseAddress!
            runConcurrently(iterations: iterations) { index in
                pointer[index] += 1
            }
        }
        XCTAssertEqual(visits, [Int](repeating: 1, count: iterations))
    }

    func testReluAfterKernelWithSecondUse() {
        // h = x·wᵀ feeds relu and a second term: L = sum(relu(h)) + sum(h * 2).
        // With h = [2, -3]: dL/dh = [1 + 2, 0 + 2], and dL/dw = dL/dh · x with x = [1].
        let x = Tensor([1], shape: [1, 1])
        let weight = Tensor([2, -3], shape: [2, 1], requiresGradient: true)
        let hidden = linear(x, weight: weight, bias: nil)
        let loss = sum(relu(hidden)) + sum(hidden * 2)
        loss.backward()
        XCTAssertEqual(weight.grad?.scalars, [3, 2])
    }

    func testHookBeforeReluStillRuns() {
        let x = Tensor([1], shape: [1, 1])
        let weight = Tensor([2, -3], shape: [2, 1], requiresGradient: true)
        let hidden = linear(x, weight: weight, bias: nil)
        var seen: [[Float]] = []
        hidden.registerGradientHook { seen.append($0.scalars) }
        sum(relu(hidden)).backward()
        XCTAssertEqual(seen, [[1, 0]])
        XCTAssertEqual(weight.grad?.scalars, [1, 0])
    }

    func testReluReleasesKernelOutput() {
        let x = Tensor([1], shape: [1, 1])
        let weight = Tensor([2, -3], shape: [2, 1], requiresGradient: true)
        var hidden: Tensor? = linear(x, weight: weight, bias: nil)
        weak var observed = hidden
        let output = relu(hidden!)
        hidden = nil
        XCTAssertNil(observed)
        sum(output).backward()
        XCTAssertEqual(weight.grad?.scalars, [1, 0])
    }
}
