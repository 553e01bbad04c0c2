import Foundation

/// A checkpoint file that cannot be read or written. Each case names the file and, where one is
/// involved, the entry (tensor name, zip member or header field).
public enum CheckpointError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file cannot be opened, read or mapped.
    case unreadableFile(path: String, reason: String)

    /// The content is none of safetensors, a PyTorch zip checkpoint or a legacy PyTorch checkpoint.
    case unrecognizedFormat(path: String)

    /// The file ends before the structure it announces (a header, a storage, a zip member).
    case truncated(path: String, detail: String)

    /// The safetensors header or the zip directory is malformed.
    case invalidHeader(path: String, detail: String)

    /// One entry is malformed: bad offsets, a shape that disagrees with the byte count, a bad field.
    case invalidEntry(path: String, entry: String, detail: String)

    /// Two entries share one name.
    case duplicateName(path: String, name: String)

    /// An entry uses an element type this library cannot load.
    case unsupportedDType(path: String, entry: String, dtype: String)

    /// A tensor reaches past the end of its storage.
    case storageTooShort(path: String, entry: String, requiredElements: Int, availableElements: Int)

    /// A zip member cannot be decompressed, or fails its CRC check.
    case corruptMember(path: String, member: String, detail: String)

    /// The pickle inside the checkpoint is malformed or not allowed.
    case invalidPickle(path: String, member: String, error: PickleError)

    /// A float64 value is finite but too large for float32.
    case valueOutOfRange(entry: String, value: Double)

    /// The file cannot be written or renamed into place.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read '\(path)': \(reason)"
        case .unrecognizedFormat(let path):
            return "'\(path)' is not a safetensors file or a PyTorch checkpoint (zip or legacy format); "
                + "check the file name, or convert it with torch.save or safetensors"
        case .truncated(let path, let detail):
            return "'\(path)' is truncated: \(detail); the file is incomplete, so copy or download it again"
        case .invalidHeader(let path, let detail):
            return "'\(path)' has an invalid header: \(detail)"
        case .invalidEntry(let path, let entry, let detail):
            return "'\(path)', entry '\(entry)': \(detail)"
        case .duplicateName(let path, let name):
            return "'\(path)' contains the name '\(name)' more than once; each tensor needs a unique name"
        case .unsupportedDType(let path, let entry, let dtype):
            let supported = DType.allCases.map(\.safetensorsName).joined(separator: ", ")
            return "'\(path)', entry '\(entry)': the element type '\(dtype)' is not supported "
                + "(supported: \(supported)); convert the tensor before saving"
        case .storageTooShort(let path, let entry, let required, let available):
            return "'\(path)', entry '\(entry)': the tensor needs \(required) elements of its storage, "
                + "but the storage contains \(available)"
        case .corruptMember(let path, let member, let detail):
            return "'\(path)', zip member '\(member)': \(detail)"
        case .invalidPickle(let path, let member, let error):
            return "'\(path)', pickle '\(member)': \(error)"
        case .valueOutOfRange(let entry, let value):
            return "entry '\(entry)': the float64 value \(value) is too large for float32"
        case .writeFailed(let path, let reason):
            return "cannot write '\(path)': \(reason)"
        }
    }

    public var errorDescription: String? {
        description
    }
}
