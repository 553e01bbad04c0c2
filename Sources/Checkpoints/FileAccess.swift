import FileSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Files of at least this many bytes are memory-mapped instead of read into memory.
let memoryMapThreshold = 1 << 20

/// Reads a whole file, memory-mapping it (read-only, private) when it is large.
///
/// The returned `Data` owns the mapping and unmaps it when the last slice of it is released.
/// NOTE: a mapped file that another process truncates while it is in use raises SIGBUS on access.
func readFileContents(at url: URL) throws -> Data {
    let path = url.path
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw CheckpointError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    defer {
        close(descriptor)
    }

    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
        throw CheckpointError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
        throw CheckpointError.unreadableFile(path: path, reason: "not a regular file")
    }
    let size = Int(status.st_size)

    if size < memoryMapThreshold {
        return try readAll(descriptor: descriptor, size: size, path: path)
    }

    guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
        throw CheckpointError.unreadableFile(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
    }
    return Data(bytesNoCopy: address, count: size, deallocator: .custom { pointer, count in
        munmap(pointer, count)
    })
}

private func readAll(descriptor: Int32, size: Int, path: String) throws -> Data {
    var data = Data(count: size)
    var offset = 0
    try data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
        while offset < size {
            let result = read(descriptor, buffer.baseAddress! + offset, size - offset)
            if result < 0 && errno == EINTR {
                continue
            }
            guard result > 0 else {
                let reason = result == 0 ? "the file shrank while it was read" : String(cString: strerror(errno))
                throw CheckpointError.unreadableFile(path: path, reason: reason)
            }
            offset += result
        }
    }
    return data
}

/// Writes the bytes `writeContents` appends to `url` atomically (temporary file, fsync, rename).
/// - Throws: `CheckpointError.writeFailed` naming `url` and the failed system call.
func writeFileAtomically(
    to url: URL, _ writeContents: (_ append: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
) throws {
    do {
        try writeAtomically(to: url) { sink in
            try writeContents { try sink.write($0) }
        }
    } catch let error as FileOperationError {
        throw CheckpointError.writeFailed(path: url.path, reason: "\(error.operation) failed: \(String(cString: strerror(error.code)))")
    }
}

/// Little-endian reads at byte offsets counted from `startIndex`; callers check bounds first.
extension Data {
    func littleEndianUInt16(at offset: Int) -> UInt16 {
        withUnsafeBytes { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    }

    func littleEndianUInt32(at offset: Int) -> UInt32 {
        withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }

    func littleEndianUInt64(at offset: Int) -> UInt64 {
        withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
}
