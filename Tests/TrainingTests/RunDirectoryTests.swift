import Foundation
import Training
import XCTest

final class RunDirectoryTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gradscope-rundir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A run directory below a file is rejected before anything is created, naming the file.
    func testPathBelowFileIsRejected() throws {
        let file = scratch.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: file)
        let directory = RunDirectory(url: file.appendingPathComponent("runs/first"))

        XCTAssertThrowsError(try directory.checkCreatable()) { error in
            XCTAssertTrue("\(error)".contains("\(file.path) is a file, not a directory"), "\(error)")
        }
        XCTAssertThrowsError(try RunDirectory(url: file).checkCreatable()) { error in
            XCTAssertTrue("\(error)".contains("--out \(file.path) is a file"), "\(error)")
        }
    }

    /// A missing directory under a writable one passes the check, which creates nothing.
    func testMissingDirectoryPassesWithoutCreation() throws {
        let directory = RunDirectory(url: scratch.appendingPathComponent("a/b/run"))
        XCTAssertNoThrow(try directory.checkCreatable())
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("a").path))

        try directory.create()
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.url.path, isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
    }
}
