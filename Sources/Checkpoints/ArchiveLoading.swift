import Foundation

/// Loads a safetensors file or a PyTorch checkpoint (`torch.save`, zip or legacy format), choosing
/// the format by content, not by file extension:
/// - a zip archive (`PK\u{3}\u{4}`) is read as a `torch.save` zip checkpoint;
/// - an 8-byte header length followed by `{` is read as safetensors;
/// - a pickle whose first value is PyTorch's magic number is read as a legacy checkpoint.
///
/// Nested dicts in a checkpoint flatten to dotted names, and a `{'state_dict': ...}` or
/// `{'model': ...}` wrapper is unwrapped; non-tensor entries are skipped. Strided tensors are copied
/// into contiguous row-major order, and every tensor keeps its stored dtype.
/// - Throws: `CheckpointError` naming the file (and the entry, where one is at fault).
public func loadTensorArchive(at url: URL) throws -> TensorArchive {
    let contents = try readFileContents(at: url)
    let path = url.path

    switch detectFormat(of: contents) {
    case .torchZip:
        return try readTorchZipCheckpoint(contents, path: path)
    case .torchLegacy:
        return try readTorchLegacyCheckpoint(contents, path: path)
    case .safetensors:
        return try parseSafetensors(contents, path: path)
    case .memory, nil:
        // Too short for any header (fewer than 8 bytes) reads the same: nothing marks it as a
        // checkpoint, so calling it truncated would only guess.
        throw CheckpointError.unrecognizedFormat(path: path)
    }
}

/// Detects the format of file contents from their first bytes, returning nil when none matches.
func detectFormat(of contents: Data) -> TensorArchiveFormat? {
    let prefix = [UInt8](contents.prefix(32))
    if prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) || prefix.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
        return .torchZip
    }
    if prefix.count >= 9, prefix[8] == UInt8(ascii: "{") {
        return .safetensors
    }
    // `torch.save` pickles the magic number first: PROTO, a FRAME header at protocol 4 and
    // newer, then LONG1 with its 10 bytes.
    let magicOpcode: [UInt8] = [0x8A, 0x0A] + legacyTorchMagicBytes
    if prefix.first == 0x80, let start = prefix.indices.first(where: { prefix[$0...].starts(with: magicOpcode) }), start <= 11 {
        return .torchLegacy
    }
    return nil
}
