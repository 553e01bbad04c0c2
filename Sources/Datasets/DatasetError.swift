import Foundation

/// A problem with a data set on disk, described so that the user can fix it.
public enum DatasetError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The directory given as the data set does not exist or is not a directory.
    case directoryNotFound(path: String)

    /// No known layout matched; `lookedFor` lists what was searched.
    case unrecognizedLayout(path: String, lookedFor: [String])

    /// The layout was recognised but has no files for the requested split.
    case splitNotFound(path: String, split: Split, lookedFor: [String])

    /// A file the layout needs is missing.
    case fileMissing(path: String)

    /// A file could not be read.
    case unreadableFile(path: String, reason: String)

    /// A file has the wrong size for its format.
    case invalidFileSize(path: String, expected: String, actual: Int)

    /// A file's contents do not follow its format.
    case malformedFile(path: String, reason: String)

    /// A class folder of an image folder holds no images.
    case emptyClassFolder(path: String)

    /// An image file could not be decoded.
    case unreadableImage(path: String, reason: String)

    /// A stored label is not a valid class index.
    case labelOutOfRange(path: String, sample: Int, label: Int, classCount: Int)

    /// A decoded image does not have the size the batch needs.
    case imageSizeMismatch(origin: String, index: Int, expected: String, actual: String)

    public var description: String {
        switch self {
        case .directoryNotFound(let path):
            if FileManager.default.fileExists(atPath: path) {
                return "\(path) is a file, not a data directory. Give the folder that holds the data set, or omit --data to use the built-in synthetic images"
            }
            return "data directory not found: \(path). Check the path, or omit it to use the built-in synthetic images"
        case .unrecognizedLayout(let path, let lookedFor):
            return "no known data set layout in \(path). Looked for: \(lookedFor.joined(separator: "; "))"
        case .splitNotFound(let path, let split, let lookedFor):
            return "no \(split.rawValue) split in \(path). Looked for: \(lookedFor.joined(separator: ", "))"
        case .fileMissing(let path):
            return "missing file: \(path). Download the data set again or restore the file"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .invalidFileSize(let path, let expected, let actual):
            return "\(path) has \(actual) bytes, expected \(expected). The file is truncated or corrupted; download it again"
        case .malformedFile(let path, let reason):
            return "invalid file \(path): \(reason). The file is corrupted or not in the expected format; download it again"
        case .emptyClassFolder(let path):
            return "class folder \(path) contains no images (.jpg, .jpeg or .png). Add images or remove the folder"
        case .unreadableImage(let path, let reason):
            return "cannot decode image \(path): \(reason). Replace or remove the file"
        case .labelOutOfRange(let path, let sample, let label, let classCount):
            return "sample \(sample) in \(path) has label \(label), outside 0..<\(classCount). The file is corrupted; download it again"
        case .imageSizeMismatch(let origin, let index, let expected, let actual):
            return "sample \(index) of \(origin) is \(actual), expected \(expected). Set a resize size so that all images match"
        }
    }

    public var errorDescription: String? { description }
}
