import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A system call on a file failed: `operation` names it and `code` is its `errno`.
public struct FileOperationError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var operation: String
    public var code: Int32

    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    public var description: String {
        "\(operation) failed for '\(path)': \(String(cString: strerror(code))) (errno \(code)). "
            + "Check that the directory exists, is writable and has free space."
    }
}

/// Writes `data` to `url` so that readers see either the old file or the complete new one.
///
/// The bytes go to a temporary file in the same directory, which is flushed to disk with
/// `fsync` and then renamed over `url`. When any step fails the temporary file is removed
/// and an existing file at `url` is left unchanged.
///
/// - Throws: `FileOperationError` naming the path and the failed system call.
public func writeAtomically(_ data: Data, to url: URL) throws {
    try writeAtomically(to: url) { sink in
        try sink.write(data)
    }
}

/// Writes `text` as UTF-8 to `url` with the guarantees of `writeAtomically(_:to:)`.
public func writeAtomically(_ text: String, to url: URL) throws {
    try writeAtomically(Data(text.utf8), to: url)
}

/// Writes the bytes that `body` produces to `url` with the guarantees of
/// `writeAtomically(_:to:)`.
///
/// When `body` throws, the temporary file is removed, `url` is left unchanged and the error of
/// `body` is rethrown.
public func writeAtomically(to url: URL, _ body: (FileSink) throws -> Void) throws {
    let directory = url.deletingLastPathComponent().path
    let temporaryPath = directory + "/." + url.lastPathComponent + temporaryMarker
        + String(getpid()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)

    let sink = try FileSink(creatingExclusively: temporaryPath)
    do {
        try body(sink)
        try sink.synchronize()
        try sink.close()
        try renameFile(from: temporaryPath, to: url.path)
    } catch {
        try? sink.close()
        unlink(temporaryPath)
        throw error
    }

    synchronizeDirectory(atPath: directory)
}

/// The text between the file name and the writer's process id in a temporary file's name.
private let temporaryMarker = ".tmp-"

/// Deletes the temporary files that `writeAtomically` left in `directory` when its process was
/// killed mid-write, such as a checkpoint half written at a second Ctrl-C. Files of a process
/// that is still running are kept. Returns the names deleted; a missing directory has none.
@discardableResult
public func removeAbandonedTemporaryFiles(in directory: URL) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    var removed: [String] = []
    for name in names where name.hasPrefix(".") {
        guard let marker = name.range(of: temporaryMarker, options: .backwards),
              let writer = Int32(name[marker.upperBound...].prefix { $0 != "-" })
        else {
            continue
        }
        let writerIsRunning = writer == getpid() || kill(writer, 0) == 0 || errno == EPERM
        if !writerIsRunning, unlink(directory.appendingPathComponent(name).path) == 0 {
            removed.append(name)
        }
    }
    return removed
}

/// An open file descriptor that writes whole buffers and reports failures as `FileOperationError`.
///
/// Writes go straight to the kernel (there is no user-space buffer), so the bytes of each
/// completed `write` call survive if the process is killed afterwards.
public final class FileSink {
    /// The path the descriptor was opened with, used in error messages.
    public let path: String

    private var descriptor: Int32

    /// Creates `path`, failing if it exists, with permissions 0644 before the umask.
    public init(creatingExclusively path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            throw FileOperationError(path: path, operation: "open", code: errno)
        }
    }

    /// Opens `path` for appending, creating it if it is missing.
    public init(appendingTo path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            throw FileOperationError(path: path, operation: "open", code: errno)
        }
    }

    deinit {
        if descriptor >= 0 {
            Glibc.close(descriptor)
        }
    }

    /// Writes all of `data`, retrying short writes and interrupted calls.
    ///
    /// - Throws: `FileOperationError` when the file is closed or `write` fails.
    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    /// Writes all of `buffer`, retrying short writes and interrupted calls.
    ///
    /// - Throws: `FileOperationError` when the file is closed or `write` fails.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard descriptor >= 0 else {
            throw FileOperationError(path: path, operation: "write", code: EBADF)
        }
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR {
                    continue
                }
                throw FileOperationError(path: path, operation: "write", code: errno)
            }
            offset += written
        }
    }

    /// Writes `text` encoded as UTF-8.
    public func write(_ text: String) throws {
        try write(Data(text.utf8))
    }

    /// Flushes the file's data to the storage device with `fsync`.
    public func synchronize() throws {
        guard descriptor >= 0 else {
            return
        }
        if fsync(descriptor) != 0 {
            throw FileOperationError(path: path, operation: "fsync", code: errno)
        }
    }

    /// Closes the descriptor. Later writes throw, and later closes do nothing.
    public func close() throws {
        guard descriptor >= 0 else {
            return
        }
        let result = Glibc.close(descriptor)
        descriptor = -1
        if result != 0 {
            throw FileOperationError(path: path, operation: "close", code: errno)
        }
    }
}

private func renameFile(from source: String, to destination: String) throws {
    if rename(source, destination) != 0 {
        throw FileOperationError(path: destination, operation: "rename", code: errno)
    }
}

/// Makes a completed rename durable. Failures are ignored because the data is already in place
/// and some file systems reject `fsync` on directories.
private func synchronizeDirectory(atPath path: String) {
    let descriptor = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else {
        return
    }
    fsync(descriptor)
    Glibc.close(descriptor)
}
