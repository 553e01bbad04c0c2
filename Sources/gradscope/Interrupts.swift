import Foundation

/// The program's Ctrl-C handling, done by one thread that only waits for SIGINT.
///
/// No signal handler may run on a thread that computes. oneDNN's JIT matrix-product kernels point
/// the stack register at heap scratch memory while they run, so a handler that interrupts one
/// writes its frame into the heap (uxlfoundation/oneDNN#4845, fixed after 3.11.1; Debian 12 has
/// 2.6.3). With a handler, 8 of 214 interrupted runs of a small MLP crashed.
///
/// `start()` therefore blocks SIGINT before any other thread exists. Every later thread inherits
/// the mask, and the signal stays pending until the waiting thread takes it with `sigwait`. Until
/// a training run calls `finishBatchOnFirstPress()`, Ctrl-C ends the program at once.
final class InterruptMonitor: @unchecked Sendable {
    static let shared = InterruptMonitor()

    private let lock = NSLock()
    private var presses = 0
    private var finishesBatchFirst = false

    private init() {}

    /// Blocks SIGINT in the calling thread and in every thread created after it, and starts the
    /// thread that receives it. Call it first in `main`, before anything starts a thread.
    func start() {
        var signals = InterruptMonitor.interruptSignal
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let thread = Thread { [self] in
            receive()
        }
        thread.name = "gradscope interrupts"
        thread.start()
    }

    /// Makes the first Ctrl-C only set `isSet`, so that training can finish the current batch and
    /// write its results. A second Ctrl-C still ends the program at once.
    func finishBatchOnFirstPress() {
        lock.lock()
        finishesBatchFirst = true
        lock.unlock()
    }

    /// Whether Ctrl-C has been pressed.
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return presses > 0
    }

    private static var interruptSignal: sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        return signals
    }

    private func receive() {
        var signals = InterruptMonitor.interruptSignal
        while true {
            var received: Int32 = 0
            guard sigwait(&signals, &received) == 0 else {
                continue
            }

            lock.lock()
            presses += 1
            let waitsForBatch = finishesBatchFirst && presses == 1
            lock.unlock()

            if waitsForBatch {
                FileHandle.standardError.write(Data("\ngradscope: finishing the current batch and writing results (Ctrl-C again to quit at once)\n".utf8))
            } else {
                endByInterrupt()
            }
        }
    }

    /// Ends the process as an unhandled SIGINT would, so that its parent gets "killed by SIGINT".
    /// The default action involves no handler, so nothing runs on the computing threads.
    private func endByInterrupt() {
        signal(SIGINT, SIG_DFL)
        var signals = InterruptMonitor.interruptSignal
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        raise(SIGINT)
        _exit(130)
    }
}
