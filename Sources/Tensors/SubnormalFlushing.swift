/// Runs `body` on the calling thread with subnormal floats flushed to zero, then restores the
/// thread's floating-point mode.
///
/// On x86-64 this sets the FTZ and DAZ bits of MXCSR: results below `Float.leastNormalMagnitude`
/// (2⁻¹²⁶) become zero, and so do such inputs. Arithmetic that produces or reads subnormals is
/// slow on x86 CPUs: on the benchmark machine (AMD EPYC), Adam over the vanishing gradients of a
/// deep sigmoid network took twice as long as over ordinary ones. Other architectures run `body`
/// unchanged.
///
/// The mode belongs to the thread, so a parallel loop calls this inside each thread's share of
/// the work. Only code whose results do not depend on subnormals should run under it: never a
/// measurement of gradients, where a vanishing layer's tiny values are the point.
@inline(__always)
public func withSubnormalsFlushedToZero<Result>(_ body: () -> Result) -> Result {
    #if arch(x86_64)
    var saved: UInt32 = 0
    readFloatingPointControl(&saved)
    var flushing = saved | flushToZeroBit | denormalsAreZeroBit
    writeFloatingPointControl(&flushing)
    defer { writeFloatingPointControl(&saved) }
    return body()
    #else
    return body()
    #endif
}

#if arch(x86_64)
/// MXCSR's flush-to-zero bit, for subnormal results.
private let flushToZeroBit: UInt32 = 0x8000

/// MXCSR's denormals-are-zero bit, for subnormal inputs.
private let denormalsAreZeroBit: UInt32 = 0x0040

// NOTE: like the square root in Adam, these bind LLVM intrinsics with `@_silgen_name`, an
// unofficial Swift feature. Without a C target Swift has no other access to MXCSR.

/// Stores MXCSR at `pointer` (`stmxcsr`).
@_silgen_name("llvm.x86.sse.stmxcsr")
private func readFloatingPointControl(_ pointer: UnsafeMutableRawPointer)

/// Loads MXCSR from `pointer` (`ldmxcsr`).
@_silgen_name("llvm.x86.sse.ldmxcsr")
private func writeFloatingPointControl(_ pointer: UnsafeMutableRawPointer)
#endif
