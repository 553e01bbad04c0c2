import Foundation
import Tensors

// Float32 data is copied between files and tensors without byte swapping.
#if _endian(big)
#error("the Checkpoints module supports little-endian hosts only")
#endif

/// A tensor as a file stores it: a name, an element type, a shape and the raw bytes.
///
/// `data` contains exactly `elementCount * dtype.elementSize` bytes, little-endian, in row-major
/// (contiguous) order. It may be a zero-copy slice of a memory-mapped file, so index it from
/// `data.startIndex`, or use `withUnsafeBytes`.
public struct StoredTensor {
    /// The entry's name, e.g. `features.0.weight`.
    public let name: String

    /// The element type of `data`.
    public let dtype: DType

    /// The size of each dimension, outermost first; `[]` for a scalar.
    public let shape: [Int]

    /// The raw little-endian elements in row-major order.
    public let data: Data

    /// Creates a stored tensor; `data.count` must equal the shape's element count times the element size.
    public init(name: String, dtype: DType, shape: [Int], data: Data) {
        let elementCount = StoredTensor.elementCount(of: shape)
        precondition(elementCount != nil, "shape \(shape) of '\(name)' has a negative or overflowing size")
        precondition(
            data.count == elementCount! * dtype.elementSize,
            "data for '\(name)' has \(data.count) bytes, shape \(shape) of \(dtype) needs \(elementCount! * dtype.elementSize)")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    /// Creates a float32 stored tensor with a copy of `tensor`'s values.
    public init(name: String, tensor: Tensor) {
        let data = tensor.withUnsafeBufferPointer { buffer in
            Data(buffer: buffer)
        }
        self.init(name: name, dtype: .f32, shape: tensor.shape, data: data)
    }

    /// The number of elements, the product of `shape` (1 for a scalar).
    public var elementCount: Int {
        data.count / dtype.elementSize
    }

    /// Calls `body` with the raw bytes.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try data.withUnsafeBytes(body)
    }

    /// Converts the elements to a new float32 tensor of the same shape.
    ///
    /// F16 and BF16 convert exactly, and F64 rounds to nearest. Integers convert as `Float(value)`,
    /// which rounds those above 2^24 in magnitude. BOOL becomes 0 or 1.
    /// - Throws: `CheckpointError.valueOutOfRange` when a finite F64 value is too large for float32.
    public func floatTensor() throws -> Tensor {
        let result = Tensor.uninitialized(shape)
        let count = elementCount
        let destination = result.storage.pointer
        let entryName = name

        try data.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
            switch dtype {
            case .f32:
                if count > 0 {
                    UnsafeMutableRawPointer(destination).copyMemory(from: source.baseAddress!, byteCount: count * 4)
                }
            case .f16:
                for index in 0..<count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                    destination[index] = floatFromHalfBits(bits)
                }
            case .bf16:
                for index in 0..<count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                    destination[index] = Float(bitPattern: UInt32(bits) << 16)
                }
            case .f64:
                for index in 0..<count {
                    let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                    let value = Double(bitPattern: bits)
                    let converted = Float(value)
                    if converted.isInfinite && value.isFinite {
                        throw CheckpointError.valueOutOfRange(entry: entryName, value: value)
                    }
                    destination[index] = converted
                }
            case .i64:
                for index in 0..<count {
                    destination[index] = Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)))
                }
            case .i32:
                for index in 0..<count {
                    destination[index] = Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)))
                }
            case .i16:
                for index in 0..<count {
                    destination[index] = Float(Int16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: Int16.self)))
                }
            case .i8:
                for index in 0..<count {
                    destination[index] = Float(Int8(bitPattern: source[index]))
                }
            case .u8:
                for index in 0..<count {
                    destination[index] = Float(source[index])
                }
            case .bool:
                for index in 0..<count {
                    destination[index] = source[index] == 0 ? 0 : 1
                }
            }
        }
        return result
    }

    /// Reads the elements of an integer or BOOL tensor as `Int64` in row-major order, or returns nil for float dtypes.
    public func integerValues() -> [Int64]? {
        let count = elementCount
        return data.withUnsafeBytes { (source: UnsafeRawBufferPointer) -> [Int64]? in
            switch dtype {
            case .i64:
                return (0..<count).map { Int64(littleEndian: source.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
            case .i32:
                return (0..<count).map { Int64(Int32(littleEndian: source.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case .i16:
                return (0..<count).map { Int64(Int16(littleEndian: source.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self))) }
            case .i8:
                return (0..<count).map { Int64(Int8(bitPattern: source[$0])) }
            case .u8, .bool:
                return (0..<count).map { Int64(source[$0]) }
            case .f32, .f16, .bf16, .f64:
                return nil
            }
        }
    }

    /// Returns the product of `shape`, or nil when a size is negative or the product overflows `Int`.
    static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            guard size >= 0 else {
                return nil
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else {
                return nil
            }
            count = product
        }
        return count
    }
}

/// Converts IEEE 754 binary16 bits to float32 exactly, subnormals, infinities and NaN included.
func floatFromHalfBits(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)

    if exponent == 0x1F {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        // Subnormal or zero: the value is mantissa * 2^-24, exact in float32.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign == 0 ? magnitude : -magnitude
    }
    let floatExponent = UInt32(exponent - 15 + 127)
    return Float(bitPattern: sign | (floatExponent << 23) | (mantissa << 13))
}
