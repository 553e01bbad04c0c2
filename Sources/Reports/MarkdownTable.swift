import Foundation

/// A GitHub-flavoured Markdown table with columns padded to equal width, such as the table
/// in `summary.md`.
public struct MarkdownTable {
    /// The alignment of a column's text.
    public enum Alignment {
        case left
        case right
        case center
    }

    public var header: [String]
    public var rows: [[String]]

    /// One alignment per column; nil aligns every column left.
    public var alignments: [Alignment]?

    /// - Precondition: every row, and `alignments` when given, has `header.count` entries.
    public init(header: [String], rows: [[String]], alignments: [Alignment]? = nil) {
        for (index, row) in rows.enumerated() {
            precondition(
                row.count == header.count,
                "rows[\(index)] has \(row.count) cells, expected \(header.count) (header.count)")
        }
        if let alignments {
            precondition(
                alignments.count == header.count,
                "alignments has \(alignments.count) entries, expected \(header.count) (header.count)")
        }
        self.header = header
        self.rows = rows
        self.alignments = alignments
    }

    /// Renders the table as Markdown lines, each ending in a line feed.
    ///
    /// A `|` in a cell is escaped as `\|` and a line break becomes `<br>`, so every row stays
    /// on one line. Widths count characters, so cells with wide characters can misalign the
    /// source text, though not the rendered table.
    public func render() -> String {
        let columnAlignments = alignments ?? Array(repeating: .left, count: header.count)
        let escapedHeader = header.map(Self.escape)
        let escapedRows = rows.map { $0.map(Self.escape) }

        var widths = escapedHeader.map { max(3, $0.count) }
        for row in escapedRows {
            for (column, cell) in row.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }

        var lines: [String] = []
        lines.append(Self.line(escapedHeader, widths: widths, alignments: columnAlignments))
        let rule = zip(widths, columnAlignments).map { width, alignment -> String in
            switch alignment {
            case .left:
                return ":" + String(repeating: "-", count: width - 1)
            case .right:
                return String(repeating: "-", count: width - 1) + ":"
            case .center:
                return ":" + String(repeating: "-", count: width - 2) + ":"
            }
        }
        lines.append("| " + rule.joined(separator: " | ") + " |")
        for row in escapedRows {
            lines.append(Self.line(row, widths: widths, alignments: columnAlignments))
        }
        return lines.map { $0 + "\n" }.joined()
    }

    private static func escape(_ cell: String) -> String {
        cell.replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\r\n", with: "<br>")
            .replacingOccurrences(of: "\n", with: "<br>")
            .replacingOccurrences(of: "\r", with: "<br>")
    }

    private static func line(_ cells: [String], widths: [Int], alignments: [Alignment]) -> String {
        var padded: [String] = []
        for (column, cell) in cells.enumerated() {
            let space = widths[column] - cell.count
            switch alignments[column] {
            case .left:
                padded.append(cell + String(repeating: " ", count: space))
            case .right:
                padded.append(String(repeating: " ", count: space) + cell)
            case .center:
                let before = space / 2
                padded.append(
                    String(repeating: " ", count: before) + cell
                        + String(repeating: " ", count: space - before))
            }
        }
        return "| " + padded.joined(separator: " | ") + " |"
    }
}
