import FileSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes scalars to a TensorBoard event file in `directory`.
///
/// The file is named `events.out.tfevents.<unix time>.<hostname>.<pid>.gradscope` (numbered when taken). It contains
/// TFRecord records (little-endian `UInt64` length, masked CRC-32C of the length bytes, the
/// data, masked CRC-32C of the data) whose data are `tensorflow.Event` protocol buffers. The
/// first record carries `file_version = "brain.Event:2"`; each later one carries a step and
/// a `Summary` of `simple_value` scalars.
///
/// Scalars are buffered until `flush()`, which writes them with one system call; `deinit`
/// flushes what is left and ignores errors.
public final class TensorBoardWriter {
    /// The event file being written.
    public let url: URL

    private let sink: FileSink
    private var pending = Data()

    /// Creates the event file and writes its version record.
    ///
    /// - Parameter directory: an existing directory, usually the run directory.
    /// - Parameter wallTime: the file's creation time in seconds since 1970; also names the file.
    /// - Throws: `FileOperationError` when the file cannot be created or written.
    public init(directory: URL, wallTime: Double = Date().timeIntervalSince1970) throws {
        // A second writer in the same directory, process and second (a run resumed at once)
        // gets a numbered name, which TensorBoard reads as another file of the same run.
        let base = "events.out.tfevents.\(Int(wallTime)).\(Self.hostname()).\(getpid())"
        var candidate = directory.appendingPathComponent(base + ".gradscope")
        var number = 1
        while FileManager.default.fileExists(atPath: candidate.path) {
            number += 1
            candidate = directory.appendingPathComponent("\(base).\(number).gradscope")
        }
        url = candidate
        sink = try FileSink(creatingExclusively: url.path)

        var event = ProtobufEncoder()
        event.appendDouble(field: 1, wallTime)
        event.appendBytes(field: 3, Data("brain.Event:2".utf8))
        pending.append(Self.record(event.data))
        try flush()
    }

    deinit {
        try? flush()
    }

    /// Buffers one scalar event: `tag` at `step`, recorded at `wallTime` seconds since 1970.
    public func addScalar(
        tag: String, value: Float, step: Int64, wallTime: Double = Date().timeIntervalSince1970
    ) {
        addScalars([(tag, value)], step: step, wallTime: wallTime)
    }

    /// Buffers one event that carries several scalars of the same step.
    public func addScalars(
        _ scalars: [(tag: String, value: Float)], step: Int64,
        wallTime: Double = Date().timeIntervalSince1970
    ) {
        var summary = ProtobufEncoder()
        for scalar in scalars {
            var value = ProtobufEncoder()
            value.appendBytes(field: 1, Data(scalar.tag.utf8))
            value.appendFloat(field: 2, scalar.value)
            summary.appendBytes(field: 1, value.data)
        }

        var event = ProtobufEncoder()
        event.appendDouble(field: 1, wallTime)
        event.appendVarint(field: 2, UInt64(bitPattern: step))
        event.appendBytes(field: 5, summary.data)
        pending.append(Self.record(event.data))
    }

    /// Writes the buffered events to the file.
    ///
    /// - Throws: `FileOperationError` when the write fails; the events stay
    ///   buffered so a later flush can retry them.
    public func flush() throws {
        guard !pending.isEmpty else {
            return
        }
        try sink.write(pending)
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs the file to the storage device and closes it. Later flushes of new
    /// events throw.
    public func close() throws {
        try flush()
        try sink.synchronize()
        try sink.close()
    }

    /// Frames `data` as one TFRecord.
    static func record(_ data: Data) -> Data {
        var length = UInt64(data.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Data($0) }
        var lengthCRC = maskedCRC32C(lengthBytes).littleEndian
        var dataCRC = maskedCRC32C(data).littleEndian

        var record = lengthBytes
        withUnsafeBytes(of: &lengthCRC) { record.append(contentsOf: $0) }
        record.append(data)
        withUnsafeBytes(of: &dataCRC) { record.append(contentsOf: $0) }
        return record
    }

    private static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else {
            return "localhost"
        }
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : name
    }
}

/// Encodes protocol buffer fields in the wire format (varints and little-endian fixed-width
/// values), enough for the `Event`, `Summary` and `Summary.Value` messages.
struct ProtobufEncoder {
    private(set) var data = Data()

    mutating func appendVarint(field: Int, _ value: UInt64) {
        appendRawVarint(UInt64(field << 3 | 0))
        appendRawVarint(value)
    }

    mutating func appendDouble(field: Int, _ value: Double) {
        appendRawVarint(UInt64(field << 3 | 1))
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
    }

    mutating func appendBytes(field: Int, _ bytes: Data) {
        appendRawVarint(UInt64(field << 3 | 2))
        appendRawVarint(UInt64(bytes.count))
        data.append(bytes)
    }

    mutating func appendFloat(field: Int, _ value: Float) {
        appendRawVarint(UInt64(field << 3 | 5))
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
    }

    private mutating func appendRawVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            data.append(UInt8(remaining & 0x7F) | 0x80)
            remaining >>= 7
        }
        data.append(UInt8(remaining))
    }
}
