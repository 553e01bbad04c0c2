import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64) whose whole state
/// is four integers, so runs can save it and resume the exact same sequence.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator whose sequence depends only on `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    /// The generator's state; restoring it with `init(state:)` resumes the same sequence.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// Restores a generator from a saved `state` of four integers.
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else {
            return nil
        }
        s0 = state[0]
        s1 = state[1]
        s2 = state[2]
        s3 = state[3]
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotate(s1 &* 5, 7) &* 9
        let shifted = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= shifted
        s3 = rotate(s3, 45)
        return result
    }

    @inline(__always)
    private func rotate(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }

    /// A float uniform on [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A double uniform on [0, 1) with 53 random bits.
    public mutating func nextUniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal sample (Box-Muller in double precision).
    public mutating func nextNormal() -> Double {
        let u1 = 1.0 - nextUniformDouble()
        let u2 = nextUniformDouble()
        return (-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2)
    }

    /// A split-off generator for another consumer (data order, dropout, augmentation), so that
    /// each stream stays the same when another consumer draws more or fewer numbers.
    public mutating func split() -> RandomGenerator {
        RandomGenerator(seed: next())
    }

    /// Fills with normal samples, using both outputs of each Box-Muller pair.
    mutating func fillNormal(_ pointer: UnsafeMutablePointer<Float>, count: Int, mean: Float, standardDeviation: Float) {
        var index = 0
        while index < count {
            let u1 = 1.0 - nextUniformDouble()
            let u2 = nextUniformDouble()
            let radius = (-2.0 * Foundation.log(u1)).squareRoot()
            let angle = 2.0 * Double.pi * u2
            pointer[index] = mean + standardDeviation * Float(radius * Foundation.cos(angle))
            if index + 1 < count {
                pointer[index + 1] = mean + standardDeviation * Float(radius * Foundation.sin(angle))
            }
            index += 2
        }
    }

    mutating func fillUniform(_ pointer: UnsafeMutablePointer<Float>, count: Int, in range: Range<Float>) {
        let width = range.upperBound - range.lowerBound
        for index in 0..<count {
            pointer[index] = range.lowerBound + width * nextUniform()
        }
    }
}
