import FileSupport
import Foundation
import XCTest

@testable import Reports

/// Creates an empty directory under the system temporary directory and removes it afterwards.
func makeTemporaryDirectory(_ testCase: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("gradscope-reports-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    testCase.addTeardownBlock {
        try? FileManager.default.removeItem(at: url)
    }
    return url
}

private struct InjectedFailure: Error {}

final class AtomicWriteTests: XCTestCase {
    func testWriteCreatesAndReplaces() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("summary.md")

        try writeAtomically("first", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "first")

        try writeAtomically("second, longer text", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "second, longer text")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["summary.md"])
    }

    /// A process killed mid-write leaves its temporary file, which the next run deletes. Files
    /// of a writer that is still running, and files of other names, stay.
    func testAbandonedTemporaryFilesAreRemoved() throws {
        let directory = try makeTemporaryDirectory(self)
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()

        let abandoned = ".model-13.safetensors.tmp-\(finished.processIdentifier)-cd30bbe0"
        let ours = ".epochs.csv.tmp-\(getpid())-12ab"
        for name in [abandoned, ours, ".hidden", "model-13.safetensors"] {
            try writeAtomically("x", to: directory.appendingPathComponent(name))
        }

        XCTAssertEqual(removeAbandonedTemporaryFiles(in: directory), [abandoned])
        XCTAssertEqual(
            Set(try FileManager.default.contentsOfDirectory(atPath: directory.path)),
            [ours, ".hidden", "model-13.safetensors"])
        XCTAssertEqual(removeAbandonedTemporaryFiles(in: directory.appendingPathComponent("missing")), [])
    }

    func testFailingBodyKeepsOldFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("epochs.csv")
        try writeAtomically("old content", to: url)

        XCTAssertThrowsError(
            try writeAtomically(to: url) { sink in
                try sink.write("partial new con")
                throw InjectedFailure()
            }
        ) { error in
            XCTAssertTrue(error is InjectedFailure, "unexpected error \(error)")
        }

        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old content")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["epochs.csv"])
    }

    func testFailedRenameKeepsTarget() throws {
        // A non-empty directory cannot be replaced by a file, so rename(2) fails after the
        // temporary file is complete.
        let directory = try makeTemporaryDirectory(self)
        let target = directory.appendingPathComponent("report.html")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        try writeAtomically("inside", to: target.appendingPathComponent("keep.txt"))

        XCTAssertThrowsError(try writeAtomically("new", to: target)) { error in
            guard let failure = error as? FileOperationError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(failure.operation, "rename")
            XCTAssertEqual(failure.path, target.path)
        }

        let keep = target.appendingPathComponent("keep.txt")
        XCTAssertEqual(try String(contentsOf: keep, encoding: .utf8), "inside")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["report.html"])
    }

    func testMissingDirectoryNamesPath() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("missing/config.json")

        XCTAssertThrowsError(try writeAtomically("{}", to: url)) { error in
            guard let failure = error as? FileOperationError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(failure.operation, "open")
            XCTAssertEqual(failure.code, ENOENT)
            XCTAssertTrue(failure.path.hasPrefix(directory.path + "/missing/"), failure.path)
            XCTAssertTrue(String(describing: error).contains(directory.path + "/missing/"))
        }
    }

    func testReadOnlyDirectoryKeepsOldFile() throws {
        try XCTSkipIf(geteuid() == 0, "root may write to read-only directories")
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("loss.png")
        try writeAtomically("old", to: url)
        chmod(directory.path, 0o555)
        defer {
            chmod(directory.path, 0o755)
        }

        XCTAssertThrowsError(try writeAtomically("new", to: url))

        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "old")
    }
}

final class CSVTests: XCTestCase {
    func testQuoteFieldCases() {
        XCTAssertEqual(quoteCSVField("plain"), "plain")
        XCTAssertEqual(quoteCSVField(""), "")
        XCTAssertEqual(quoteCSVField("a,b"), "\"a,b\"")
        XCTAssertEqual(quoteCSVField("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(quoteCSVField("two\nlines"), "\"two\nlines\"")
        XCTAssertEqual(quoteCSVField("two\r\nlines"), "\"two\r\nlines\"")
        XCTAssertEqual(quoteCSVField(" padded"), "\" padded\"")
        XCTAssertEqual(quoteCSVField("features.0.weight"), "features.0.weight")
    }

    func testNumbersRoundTripExactly() {
        let doubles: [Double] = [
            0.1, 1.0 / 3.0, 1e-5, -2.5e-300, 123_456_789.123_456_78, Double.leastNonzeroMagnitude,
            Double.greatestFiniteMagnitude, 0, 1,
        ]
        for value in doubles {
            let text = CSVValue.double(value).field
            XCTAssertEqual(Double(text)?.bitPattern, value.bitPattern, "\(value) written as \(text)")
        }

        let floats: [Float] = [0.1, 1.0 / 3.0, 3.4028235e38, Float.leastNonzeroMagnitude, -7.25e-8]
        for value in floats {
            let text = CSVValue.float(value).field
            XCTAssertEqual(Float(text)?.bitPattern, value.bitPattern, "\(value) written as \(text)")
        }

        XCTAssertEqual(CSVValue.float(0.1).field, "0.1")
        XCTAssertEqual(CSVValue.double(-0.0).field, "-0.0")
        XCTAssertEqual(CSVValue.integer(-42).field, "-42")
    }

    func testNonFiniteSpelling() {
        XCTAssertEqual(CSVValue.double(.nan).field, "nan")
        XCTAssertEqual(CSVValue.double(-Double.nan).field, "nan")
        XCTAssertEqual(CSVValue.double(.signalingNaN).field, "nan")
        XCTAssertEqual(CSVValue.double(.infinity).field, "inf")
        XCTAssertEqual(CSVValue.double(-.infinity).field, "-inf")
        XCTAssertEqual(CSVValue.float(.nan).field, "nan")
        XCTAssertEqual(CSVValue.float(-.infinity).field, "-inf")
    }

    func testWriteCSVExactBytes() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("epochs.csv")

        try writeCSV(header: ["epoch", "note", "loss"], rows: [[1, "a,b", 0.5], [2, "", .double(.nan)]], to: url)

        let text = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text, "epoch,note,loss\r\n1,\"a,b\",0.5\r\n2,,nan\r\n")
    }

    func testWriteCSVRoundTrip() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("epochs.csv")
        let header = ["name", "value", "count"]
        let rows: [[CSVValue]] = [
            ["features.0", .double(1e-7), 3],
            ["quote \" inside", .double(-.infinity), 0],
            ["comma, and\nnewline", .float(0.3), -1],
            ["  spaces  ", .double(.nan), 7],
            ["ünïcødé ✓", .double(2.0 / 3.0), 12],
        ]

        try writeCSV(header: header, rows: rows, to: url)
        let text = try String(contentsOf: url, encoding: .utf8)
        let records = try parseCSV(text)

        XCTAssertEqual(records.count, rows.count + 1)
        XCTAssertEqual(records[0], header)
        for (index, row) in rows.enumerated() {
            XCTAssertEqual(records[index + 1], row.map(\.field), "row \(index)")
        }
        XCTAssertEqual(records[2][0], "quote \" inside")
        XCTAssertEqual(records[3][0], "comma, and\nnewline")
        XCTAssertEqual(Double(records[5][1]), 2.0 / 3.0)
        XCTAssertEqual(Double(records[2][1]), -.infinity)
        XCTAssertTrue(Double(records[4][1])!.isNaN)
    }

    func testParseAcceptsLineFeedsAndMissingFinalNewline() throws {
        XCTAssertEqual(try parseCSV("a,b\n1,2"), [["a", "b"], ["1", "2"]])
        XCTAssertEqual(try parseCSV("a\r\n\r\n"), [["a"], [""]])
        XCTAssertEqual(try parseCSV("\"\",x\n"), [["", "x"]])
        XCTAssertEqual(try parseCSV(""), [])
    }

    func testParseRejectsMalformed() {
        let cases = ["ab\"c\n", "\"open", "\"closed\"tail,1\n"]
        for text in cases {
            XCTAssertThrowsError(try parseCSV(text, path: "bad.csv"), "accepted \(text.debugDescription)") { error in
                guard case ReportError.malformedCSV(let path, let line, _) = error else {
                    return XCTFail("unexpected error \(error)")
                }
                XCTAssertEqual(path, "bad.csv")
                XCTAssertEqual(line, 1)
            }
        }
    }

    func testAppenderWritesEachBatch() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("batches.csv")
        let appender = try CSVAppender(url: url, header: ["step", "loss"])

        try appender.append([0, 2.25])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "step,loss\r\n0,2.25\r\n")

        try appender.append(rows: [[1, 2.0], [2, .double(.infinity)]])
        XCTAssertEqual(
            try String(contentsOf: url, encoding: .utf8), "step,loss\r\n0,2.25\r\n1,2.0\r\n2,inf\r\n")

        try appender.close()
        XCTAssertThrowsError(try appender.append([3, 1.0]))
    }

    func testAppenderResumesSameHeader() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("batches.csv")
        let first = try CSVAppender(url: url, header: ["step", "probe, path"])
        try first.append([0, "a"])
        try first.close()

        let second = try CSVAppender(url: url, header: ["step", "probe, path"])
        try second.append([1, "b"])
        try second.close()

        let records = try parseCSV(try String(contentsOf: url, encoding: .utf8))
        XCTAssertEqual(records, [["step", "probe, path"], ["0", "a"], ["1", "b"]])
    }

    func testAppenderRejectsOtherHeader() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("batches.csv")
        try writeAtomically("step,accuracy\r\n0,0.5\r\n", to: url)

        XCTAssertThrowsError(try CSVAppender(url: url, header: ["step", "loss"])) { error in
            XCTAssertEqual(
                error as? ReportError,
                .csvHeaderMismatch(path: url.path, expected: ["step", "loss"], actual: ["step", "accuracy"]))
        }
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "step,accuracy\r\n0,0.5\r\n")
    }
}

final class MarkdownTableTests: XCTestCase {
    func testRenderPadsAndAligns() {
        let table = MarkdownTable(
            header: ["Layer", "Norm", "Note"],
            rows: [["features.0", "1.5e-05", "a|b"], ["fc", "0.25", "two\nlines"]],
            alignments: [.left, .right, .center])

        let expected = """
            | Layer      |    Norm |     Note     |
            | :--------- | ------: | :----------: |
            | features.0 | 1.5e-05 |     a\\|b     |
            | fc         |    0.25 | two<br>lines |

            """
        XCTAssertEqual(table.render(), expected)
    }

    func testRenderDefaultsToLeft() {
        let table = MarkdownTable(header: ["a", "bb"], rows: [["1", "2"]])

        XCTAssertEqual(table.render(), "| a   | bb  |\n| :-- | :-- |\n| 1   | 2   |\n")
    }
}
