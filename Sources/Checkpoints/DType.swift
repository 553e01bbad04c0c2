/// The element type of a stored tensor, as safetensors and PyTorch name it.
///
/// Values are stored little-endian. `bool` uses one byte per element (0 or 1), as both formats do.
public enum DType: String, CaseIterable, Sendable {
    case f32
    case f16
    case bf16
    case f64
    case i64
    case i32
    case i16
    case i8
    case u8
    case bool

    /// The size of one element in bytes.
    public var elementSize: Int {
        switch self {
        case .f64, .i64:
            return 8
        case .f32, .i32:
            return 4
        case .f16, .bf16, .i16:
            return 2
        case .i8, .u8, .bool:
            return 1
        }
    }

    /// The name in a safetensors header, e.g. `F32`, `BF16`, `BOOL`.
    public var safetensorsName: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i64: return "I64"
        case .i32: return "I32"
        case .i16: return "I16"
        case .i8: return "I8"
        case .u8: return "U8"
        case .bool: return "BOOL"
        }
    }

    /// The PyTorch dtype name, e.g. `float32`, `bfloat16`, `int64`.
    public var torchName: String {
        switch self {
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .f64: return "float64"
        case .i64: return "int64"
        case .i32: return "int32"
        case .i16: return "int16"
        case .i8: return "int8"
        case .u8: return "uint8"
        case .bool: return "bool"
        }
    }

    /// The legacy typed-storage class that `torch.save` names in a checkpoint's pickle, e.g. `FloatStorage`.
    public var torchStorageName: String {
        switch self {
        case .f32: return "FloatStorage"
        case .f16: return "HalfStorage"
        case .bf16: return "BFloat16Storage"
        case .f64: return "DoubleStorage"
        case .i64: return "LongStorage"
        case .i32: return "IntStorage"
        case .i16: return "ShortStorage"
        case .i8: return "CharStorage"
        case .u8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// The dtype with a safetensors name, or nil for a name this library does not support.
    public init?(safetensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else {
            return nil
        }
        self = match
    }

    /// The dtype of a PyTorch typed-storage class name such as `FloatStorage`, or nil for an unsupported one.
    public init?(torchStorageName: String) {
        guard let match = DType.allCases.first(where: { $0.torchStorageName == torchStorageName }) else {
            return nil
        }
        self = match
    }

    /// The dtype of a PyTorch dtype attribute name such as `float32`, `half` or `long`, or nil for an unsupported one.
    public init?(torchName: String) {
        let aliases: [String: DType] = [
            "float": .f32, "half": .f16, "double": .f64, "long": .i64, "int": .i32, "short": .i16,
        ]
        if let alias = aliases[torchName] {
            self = alias
            return
        }
        guard let match = DType.allCases.first(where: { $0.torchName == torchName }) else {
            return nil
        }
        self = match
    }

    /// The dtype of a numpy type code without its byte-order character, e.g. `u1`, `f4`, `i8`, `b1`.
    public init?(numpyCode: String) {
        let codes: [String: DType] = [
            "f4": .f32, "f2": .f16, "f8": .f64, "i8": .i64, "i4": .i32, "i2": .i16, "i1": .i8, "u1": .u8, "b1": .bool,
        ]
        guard let match = codes[numpyCode] else {
            return nil
        }
        self = match
    }

    /// The rank of the reference safetensors writer (safetensors 0.8) when it orders tensors in a file:
    /// higher ranks come first, so that every tensor's offset is a multiple of its element size.
    var safetensorsWriteRank: Int {
        switch self {
        case .i64: return 9
        case .f64: return 8
        case .f32: return 7
        case .i32: return 6
        case .bf16: return 5
        case .f16: return 4
        case .i16: return 3
        case .i8: return 2
        case .u8: return 1
        case .bool: return 0
        }
    }
}
