import FileSupport
import Foundation

/// One CSV cell: text, an integer or a floating-point number.
///
/// Numbers are written with Swift's shortest representation that reads back to the same
/// value (`Double.description`), and non-finite numbers as `nan`, `inf` and `-inf`.
public enum CSVValue: Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral
{
    case text(String)
    case integer(Int)
    case double(Double)
    case float(Float)

    public init(stringLiteral value: String) {
        self = .text(value)
    }

    public init(integerLiteral value: Int) {
        self = .integer(value)
    }

    public init(floatLiteral value: Double) {
        self = .double(value)
    }

    /// The cell's text before CSV quoting.
    public var field: String {
        switch self {
        case .text(let value):
            return value
        case .integer(let value):
            return String(value)
        case .double(let value):
            return formatNumber(value)
        case .float(let value):
            return formatNumber(value)
        }
    }
}

/// Formats `value` so that `Double(text)` or `Float(text)` returns it exactly; every NaN
/// becomes `nan` (no sign or payload), and infinities become `inf` and `-inf`.
public func formatNumber<Value: BinaryFloatingPoint & CustomStringConvertible>(_ value: Value) -> String {
    if value.isNaN {
        return "nan"
    }
    if value.isInfinite {
        return value < 0 ? "-inf" : "inf"
    }
    return value.description
}

/// Quotes `field` per RFC 4180 when it contains a comma, a double quote, CR or LF, or begins
/// or ends with a space. Double quotes inside the field are doubled.
public func quoteCSVField(_ field: String) -> String {
    let needsQuotes = field.contains { character in
        character == "," || character == "\"" || character == "\n" || character == "\r"
            || character == "\r\n"
    } || field.hasPrefix(" ") || field.hasSuffix(" ")

    guard needsQuotes else {
        return field
    }
    return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// Formats one CSV record with its line ending (CRLF, as RFC 4180 specifies).
public func formatCSVRecord(_ fields: [String]) -> String {
    fields.map(quoteCSVField).joined(separator: ",") + "\r\n"
}

/// Writes a whole CSV file atomically: `header`, then one record per row.
///
/// - Precondition: every row has `header.count` values.
/// - Throws: `FileOperationError` when the file cannot be written.
public func writeCSV(header: [String], rows: [[CSVValue]], to url: URL) throws {
    var text = formatCSVRecord(header)
    for (index, row) in rows.enumerated() {
        precondition(
            row.count == header.count,
            "rows[\(index)] has \(row.count) values, expected \(header.count) (header.count)")
        text += formatCSVRecord(row.map(\.field))
    }

    try writeAtomically(text, to: url)
}

/// Parses RFC 4180 CSV text into records of fields. Both CRLF and LF end a record, and a
/// final line ending is optional.
///
/// - Parameter path: the file name to put in error messages.
/// - Throws: `ReportError.malformedCSV` for a quote inside an unquoted field, text after a
///   closing quote, or an unterminated quoted field.
public func parseCSV(_ text: String, path: String = "<text>") throws -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var line = 1
    var inQuotes = false
    var fieldWasQuoted = false
    var atFieldStart = true
    let scalars = Array(text.unicodeScalars)
    var index = 0

    func endField() {
        record.append(field)
        field = ""
        fieldWasQuoted = false
        atFieldStart = true
    }

    while index < scalars.count {
        let scalar = scalars[index]

        if inQuotes {
            if scalar == "\"" {
                if index + 1 < scalars.count && scalars[index + 1] == "\"" {
                    field.unicodeScalars.append("\"")
                    index += 2
                    continue
                }
                inQuotes = false
                fieldWasQuoted = true
            } else {
                if scalar == "\n" {
                    line += 1
                }
                field.unicodeScalars.append(scalar)
            }
            index += 1
            continue
        }

        switch scalar {
        case ",":
            endField()
        case "\r", "\n":
            if scalar == "\r" && index + 1 < scalars.count && scalars[index + 1] == "\n" {
                index += 1
            }
            endField()
            records.append(record)
            record = []
            line += 1
        case "\"":
            guard atFieldStart else {
                throw ReportError.malformedCSV(
                    path: path, line: line, reason: "a double quote inside an unquoted field")
            }
            inQuotes = true
            atFieldStart = false
        default:
            guard !fieldWasQuoted else {
                throw ReportError.malformedCSV(
                    path: path, line: line, reason: "text after the closing quote of a field")
            }
            field.unicodeScalars.append(scalar)
            atFieldStart = false
        }
        index += 1
    }

    if inQuotes {
        throw ReportError.malformedCSV(path: path, line: line, reason: "a quoted field is not closed")
    }
    if !atFieldStart || !record.isEmpty {
        endField()
        records.append(record)
    }
    return records
}

/// Appends rows to a CSV file as they are produced, such as `batches.csv` during training.
///
/// Each call to `append` writes its rows with one `write` system call, so a run that is
/// killed keeps every row appended before the kill. Rows are not `fsync`ed one by one;
/// `close()` flushes them to the storage device.
public final class CSVAppender {
    /// The file being written.
    public let url: URL

    /// The column names, written as the file's first record.
    public let header: [String]

    private let sink: FileSink

    /// Opens `url` for appending.
    ///
    /// A missing or empty file gets `header` as its first record. An existing file is kept
    /// (so a resumed run continues it) when its first record equals `header`.
    ///
    /// - Throws: `ReportError.csvHeaderMismatch` when an existing file has another header,
    ///   `ReportError.malformedCSV` when its header cannot be parsed, and
    ///   `FileOperationError` when it cannot be opened.
    public init(url: URL, header: [String]) throws {
        precondition(!header.isEmpty, "header must name at least one column, got []")
        self.url = url
        self.header = header

        let existing = try Self.readFirstRecord(of: url)
        if let existing, existing != header {
            throw ReportError.csvHeaderMismatch(path: url.path, expected: header, actual: existing)
        }

        sink = try FileSink(appendingTo: url.path)
        if existing == nil {
            try sink.write(formatCSVRecord(header))
        }
    }

    /// Appends one row.
    ///
    /// - Precondition: `row` has `header.count` values.
    public func append(_ row: [CSVValue]) throws {
        try append(rows: [row])
    }

    /// Appends `rows` with a single write.
    ///
    /// - Precondition: every row has `header.count` values.
    public func append(rows: [[CSVValue]]) throws {
        var text = ""
        for (index, row) in rows.enumerated() {
            precondition(
                row.count == header.count,
                "rows[\(index)] has \(row.count) values, expected \(header.count) (header.count)")
            text += formatCSVRecord(row.map(\.field))
        }

        try sink.write(text)
    }

    /// Flushes the file to the storage device and closes it. Later appends throw.
    public func close() throws {
        try sink.synchronize()
        try sink.close()
    }

    /// Reads the first record of the file at `url`, or returns nil when the file is missing or empty.
    private static func readFirstRecord(of url: URL) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: url.path) else {
            return nil
        }

        // NOTE: A header longer than 64 KiB is read only in part and then reported as a
        // mismatch.
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer {
                try? handle.close()
            }
            data = try handle.read(upToCount: 65_536) ?? Data()
        } catch {
            throw ReportError.fileOperationFailed(path: url.path, operation: "read", code: EIO)
        }
        guard !data.isEmpty else {
            return nil
        }

        // The header ends at the first line feed outside double quotes. Only that prefix is
        // parsed, so the check reads at most 64 KiB and ignores a torn last row.
        var insideQuotes = false
        var end = data.endIndex
        for index in data.indices {
            let byte = data[index]
            if byte == UInt8(ascii: "\"") {
                insideQuotes.toggle()
            } else if byte == UInt8(ascii: "\n") && !insideQuotes {
                end = index
                break
            }
        }
        let text = String(decoding: data[data.startIndex..<end], as: UTF8.self)
        let records = try parseCSV(text, path: url.path)
        return records.first
    }
}
