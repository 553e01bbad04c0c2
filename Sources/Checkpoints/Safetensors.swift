import Foundation
import Tensors

/// The largest header that is accepted, the same limit as the reference implementation (safetensors 0.8).
let safetensorsMaximumHeaderLength = 100_000_000

/// The header key of the string-to-string metadata map.
let safetensorsMetadataKey = "__metadata__"

/// Reads a safetensors file: an 8-byte little-endian header length, a JSON header that maps each
/// name to `dtype`, `shape` and `data_offsets` (plus an optional `__metadata__` string map), then the data.
///
/// Files of 1 MiB or more are memory-mapped, and their tensors are zero-copy slices of the mapping.
/// The archive keeps the header's order.
/// - Throws: `CheckpointError` naming the file and entry when the header length exceeds the file,
///   the header is not valid JSON, a name repeats, a dtype is unknown, a shape disagrees with its
///   byte count, or the offsets overlap, leave gaps or leave the data section.
public func readSafetensors(at url: URL) throws -> TensorArchive {
    let contents = try readFileContents(at: url)
    return try parseSafetensors(contents, path: url.path)
}

/// Parses safetensors bytes; `path` only names the source in errors.
func parseSafetensors(_ contents: Data, path: String) throws -> TensorArchive {
    guard contents.count >= 8 else {
        throw CheckpointError.truncated(
            path: path, detail: "the file has \(contents.count) bytes, fewer than the 8-byte header length field")
    }
    let declaredLength = contents.littleEndianUInt64(at: 0)
    let available = contents.count - 8
    guard declaredLength <= UInt64(available) else {
        throw CheckpointError.invalidHeader(
            path: path,
            detail: "the header length field is \(declaredLength) bytes, but only \(available) bytes follow it; "
                + "the file is truncated or not a safetensors file")
    }
    let headerLength = Int(declaredLength)
    guard headerLength <= safetensorsMaximumHeaderLength else {
        throw CheckpointError.invalidHeader(
            path: path, detail: "the header has \(headerLength) bytes, more than the limit of \(safetensorsMaximumHeaderLength)")
    }

    let headerStart = contents.startIndex + 8
    let headerBytes = [UInt8](contents[headerStart..<(headerStart + headerLength)])
    let header: HeaderJSON
    do {
        header = try HeaderJSONParser.parse(headerBytes)
    } catch HeaderJSONError.duplicateKey(let key) {
        throw CheckpointError.duplicateName(path: path, name: key)
    } catch HeaderJSONError.invalid(let offset, let detail) {
        throw CheckpointError.invalidHeader(path: path, detail: "the header is not valid JSON at byte \(offset): \(detail)")
    }
    guard case .object(let members) = header else {
        throw CheckpointError.invalidHeader(path: path, detail: "the header is not a JSON object")
    }

    var metadata: [String: String] = [:]
    var entries: [SafetensorsEntry] = []
    for (key, value) in members {
        if key == safetensorsMetadataKey {
            metadata = try parseMetadata(value, path: path)
        } else {
            entries.append(try parseEntry(name: key, value: value, path: path))
        }
    }

    let dataStart = headerStart + headerLength
    let dataLength = contents.count - 8 - headerLength
    try checkCoverage(of: entries, dataLength: dataLength, path: path)

    let tensors = entries.map { entry in
        StoredTensor(
            name: entry.name, dtype: entry.dtype, shape: entry.shape,
            data: contents[(dataStart + entry.begin)..<(dataStart + entry.end)])
    }
    return try TensorArchive(tensors: tensors, metadata: metadata, format: .safetensors, path: path)
}

private struct SafetensorsEntry {
    let name: String
    let dtype: DType
    let shape: [Int]
    let begin: Int
    let end: Int
}

private func parseMetadata(_ value: HeaderJSON, path: String) throws -> [String: String] {
    guard case .object(let members) = value else {
        throw CheckpointError.invalidEntry(path: path, entry: safetensorsMetadataKey, detail: "the metadata is not a JSON object")
    }
    var metadata: [String: String] = [:]
    for (key, member) in members {
        guard case .string(let text) = member else {
            throw CheckpointError.invalidEntry(
                path: path, entry: safetensorsMetadataKey, detail: "the metadata value of '\(key)' is not a string")
        }
        metadata[key] = text
    }
    return metadata
}

private func parseEntry(name: String, value: HeaderJSON, path: String) throws -> SafetensorsEntry {
    guard case .object(let fields) = value else {
        throw CheckpointError.invalidEntry(path: path, entry: name, detail: "the entry is not a JSON object")
    }
    func field(_ key: String) throws -> HeaderJSON {
        guard let match = fields.first(where: { $0.key == key }) else {
            throw CheckpointError.invalidEntry(path: path, entry: name, detail: "the field '\(key)' is missing")
        }
        return match.value
    }
    func integers(_ key: String) throws -> [Int] {
        guard case .array(let elements) = try field(key) else {
            throw CheckpointError.invalidEntry(path: path, entry: name, detail: "'\(key)' is not an array")
        }
        return try elements.map { element in
            guard case .integer(let integer) = element, integer >= 0 else {
                throw CheckpointError.invalidEntry(
                    path: path, entry: name, detail: "'\(key)' must hold non-negative integers")
            }
            return integer
        }
    }

    guard case .string(let dtypeName) = try field("dtype") else {
        throw CheckpointError.invalidEntry(path: path, entry: name, detail: "'dtype' is not a string")
    }
    guard let dtype = DType(safetensorsName: dtypeName) else {
        throw CheckpointError.unsupportedDType(path: path, entry: name, dtype: dtypeName)
    }
    let shape = try integers("shape")
    let offsets = try integers("data_offsets")
    guard offsets.count == 2 else {
        throw CheckpointError.invalidEntry(
            path: path, entry: name, detail: "'data_offsets' has \(offsets.count) values instead of [begin, end]")
    }
    let begin = offsets[0]
    let end = offsets[1]
    guard begin <= end else {
        throw CheckpointError.invalidEntry(
            path: path, entry: name, detail: "'data_offsets' [\(begin), \(end)] ends before it begins")
    }

    guard let elementCount = StoredTensor.elementCount(of: shape),
        case (let byteCount, false) = elementCount.multipliedReportingOverflow(by: dtype.elementSize)
    else {
        throw CheckpointError.invalidEntry(path: path, entry: name, detail: "the shape \(shape) is too large")
    }
    guard byteCount == end - begin else {
        throw CheckpointError.invalidEntry(
            path: path, entry: name,
            detail: "shape \(shape) of \(dtypeName) needs \(byteCount) bytes, but 'data_offsets' [\(begin), \(end)] "
                + "span \(end - begin)")
    }
    return SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
}

/// Checks that the entries tile the data section exactly: no byte outside it, no overlap, no gap.
private func checkCoverage(of entries: [SafetensorsEntry], dataLength: Int, path: String) throws {
    let ordered = entries.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var coveredEnd = 0
    var previousName: String?
    for entry in ordered {
        guard entry.end <= dataLength else {
            throw CheckpointError.invalidEntry(
                path: path, entry: entry.name,
                detail: "'data_offsets' end at byte \(entry.end), past the data section of \(dataLength) bytes")
        }
        if entry.begin < coveredEnd {
            throw CheckpointError.invalidEntry(
                path: path, entry: entry.name,
                detail: "the data at byte \(entry.begin) overlaps '\(previousName ?? "")', which ends at byte \(coveredEnd)")
        }
        if entry.begin > coveredEnd {
            throw CheckpointError.invalidEntry(
                path: path, entry: entry.name,
                detail: "the data starts at byte \(entry.begin), leaving bytes \(coveredEnd)..<\(entry.begin) unused")
        }
        coveredEnd = entry.end
        previousName = entry.name
    }
    guard coveredEnd == dataLength else {
        throw CheckpointError.invalidHeader(
            path: path, detail: "the tensors cover \(coveredEnd) bytes of the \(dataLength)-byte data section")
    }
}

/// Saves float32 tensors as a safetensors file, atomically (a temporary file in the same
/// directory, fsync, rename).
///
/// The layout matches the reference writer (safetensors 0.8): tensors sorted by name (all are F32),
/// a compact JSON header with `__metadata__` first (omitted when `metadata` is empty), padded with
/// spaces to a multiple of 8 bytes.
/// - Throws: `CheckpointError.duplicateName` when two tensors share a name, `.invalidEntry` for the
///   reserved name `__metadata__`, `.writeFailed` when the file cannot be written.
public func saveSafetensors(_ tensors: [(String, Tensor)], metadata: [String: String], to url: URL) throws {
    let stored = tensors.map { StoredTensor(name: $0.0, tensor: $0.1) }
    try writeSafetensors(stored, metadata: metadata, to: url)
}

/// Saves stored tensors of any dtype as a safetensors file, atomically, in the reference writer's
/// order: larger element types first, then by name, so that each tensor starts at a multiple of its element size.
/// - Throws: as `saveSafetensors(_:metadata:to:)`.
public func writeSafetensors(_ tensors: [StoredTensor], metadata: [String: String], to url: URL) throws {
    let bytes = try encodeSafetensorsHeader(tensors, metadata: metadata, path: url.path)
    let ordered = bytes.orderedTensors

    try writeFileAtomically(to: url) { append in
        var lengthField = UInt64(bytes.header.count).littleEndian
        try withUnsafeBytes(of: &lengthField) { try append($0) }
        try bytes.header.withUnsafeBytes { try append($0) }
        for tensor in ordered {
            try tensor.withUnsafeBytes { try append($0) }
        }
    }
}

/// The padded header and the tensors in the order their data follows it.
func encodeSafetensorsHeader(
    _ tensors: [StoredTensor], metadata: [String: String], path: String
) throws -> (header: [UInt8], orderedTensors: [StoredTensor]) {
    var names = Set<String>()
    for tensor in tensors {
        guard tensor.name != safetensorsMetadataKey else {
            throw CheckpointError.invalidEntry(
                path: path, entry: tensor.name, detail: "the name is reserved for the metadata map; rename the tensor")
        }
        guard names.insert(tensor.name).inserted else {
            throw CheckpointError.duplicateName(path: path, name: tensor.name)
        }
    }

    let ordered = tensors.sorted { left, right in
        if left.dtype.safetensorsWriteRank != right.dtype.safetensorsWriteRank {
            return left.dtype.safetensorsWriteRank > right.dtype.safetensorsWriteRank
        }
        return left.name.utf8.lexicographicallyPrecedes(right.name.utf8)
    }

    var members: [String] = []
    if !metadata.isEmpty {
        let pairs = metadata.keys
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
        members.append("\(jsonString(safetensorsMetadataKey)):{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for tensor in ordered {
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        let end = offset + tensor.data.count
        members.append(
            "\(jsonString(tensor.name)):{\"dtype\":\"\(tensor.dtype.safetensorsName)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(end)]}")
        offset = end
    }

    var header = Array("{\(members.joined(separator: ","))}".utf8)
    let padding = (8 - header.count % 8) % 8
    header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
    return (header, ordered)
}

/// A JSON string literal escaped as serde_json writes it: quote, backslash and control characters only.
private func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\u{08}": result += "\\b"
        case "\u{0C}": result += "\\f"
        default:
            if scalar.value < 0x20 {
                result += String(format: "\\u%04x", scalar.value)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}
