import Foundation

/// A failure while writing or reading a run directory's files.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// A system call on `path` failed; `operation` names it and `code` is its `errno`.
    case fileOperationFailed(path: String, operation: String, code: Int32)

    /// A CSV file's text is not valid RFC 4180 CSV.
    case malformedCSV(path: String, line: Int, reason: String)

    /// An existing CSV file's header differs from the header the writer was created with.
    case csvHeaderMismatch(path: String, expected: [String], actual: [String])

    /// Cairo reported an error while drawing or encoding a chart.
    case drawingFailed(operation: String, status: String)

    /// A chart file name ends in an extension other than png, svg or pdf.
    case unsupportedChartFormat(path: String)

    public var description: String {
        switch self {
        case let .fileOperationFailed(path, operation, code):
            let reason = String(cString: strerror(code))
            return "\(operation) failed for '\(path)': \(reason) (errno \(code)). "
                + "Check that the directory exists, is writable and has free space."
        case let .malformedCSV(path, line, reason):
            return "Invalid CSV in '\(path)' at line \(line): \(reason). "
                + "Fix or delete the file and run again."
        case let .csvHeaderMismatch(path, expected, actual):
            return "The CSV header of '\(path)' is \(actual.joined(separator: ",")) "
                + "but the writer expects \(expected.joined(separator: ",")). "
                + "Move the old file away or write to a new run directory."
        case let .drawingFailed(operation, status):
            return "Cairo failed in \(operation): \(status)."
        case let .unsupportedChartFormat(path):
            return "Cannot tell the chart format of '\(path)': use the extension .png, .svg or .pdf."
        }
    }
}
