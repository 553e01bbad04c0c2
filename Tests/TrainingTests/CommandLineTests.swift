import Foundation
import TestSupport
import XCTest

/// Runs the built `gradscope` executable as a user would, pinning help, errors and exit codes.
final class CommandLineTests: XCTestCase {
    private static let executable: URL = {
        let root = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/gradscope")
    }()

    private var scratch: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.executable.path),
                          "gradscope is not built at \(Self.executable.path); run swift build first")
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gradscope-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let scratch {
            try? FileManager.default.removeItem(at: scratch)
        }
    }

    private struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    @discardableResult
    /// Runs the built `gradscope`. With `marker`, it presses Ctrl-C once the marker appears on
    /// standard error, after handing the running process's id to `beforeInterrupt`.
    private func gradscope(
        _ arguments: [String], interruptAfter marker: String? = nil, beforeInterrupt: (pid_t) -> Void = { _ in }
    ) throws -> Result {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        process.currentDirectoryURL = scratch
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()

        var errorText = ""
        if let marker {
            // Read standard error until the marker appears, then press Ctrl-C once.
            let handle = error.fileHandleForReading
            while !errorText.contains(marker) {
                let chunk = handle.availableData
                if chunk.isEmpty {
                    break
                }
                errorText += String(decoding: chunk, as: UTF8.self)
            }
            beforeInterrupt(process.processIdentifier)
            kill(process.processIdentifier, SIGINT)
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        errorText += String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self), error: errorText)
    }

    private let tinyRun = ["--model", "mlp", "--depth", "3", "--width", "8", "--synthetic-size", "64", "--batch-size", "16", "--lr", "0.001"]

    func testHelpListsSubcommands() throws {
        let result = try gradscope(["--help"])
        XCTAssertEqual(result.status, 0)
        for name in ["train", "profile", "compare", "inspect", "models", "weights"] {
            XCTAssertTrue(result.output.contains("  \(name) "), "help lists \(name)")
        }
    }

    func testTrainHelpShowsOptions() throws {
        let result = try gradscope(["train", "--help"])
        XCTAssertEqual(result.status, 0)
        for option in ["--model NAME", "--no-skip", "--probe PATH[=NAME]", "--limit-train N", "--image-size S", "--resume RUN_DIR"] {
            XCTAssertTrue(result.output.contains(option), "train --help shows \(option)")
        }
    }

    func testUnknownSubcommandExitsWithUsageError() throws {
        let result = try gradscope(["trian"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.error, "gradscope: error: unknown subcommand 'trian'. Did you mean 'train'? Run 'gradscope --help' to list the subcommands.\n")
    }

    func testInvalidValueNamesOption() throws {
        let result = try gradscope(["train", "--lr", "fast"])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.error, "gradscope train: error: --lr expects a number, got 'fast'\nRun 'gradscope train --help' for the options.\n")
    }

    /// Settings checked together (model name, learning rate) fail as usage errors before any
    /// data is loaded.
    func testUnknownModelFailsBeforeLoading() throws {
        for (arguments, message) in [(["--model", "vgg20"], "unknown model 'vgg20'"), (["--lr", "-1"], "--lr must be a positive number")] {
            let result = try gradscope(["train", "--out", "never"] + arguments)
            XCTAssertEqual(result.status, 2, result.error)
            XCTAssertTrue(result.error.contains(message), result.error)
            XCTAssertFalse(result.error.contains("synthetic images"), result.error)
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("never").path))
        }
    }

    func testMisspelledOptionSuggestsClosest() throws {
        let result = try gradscope(["train", "--epoch", "3"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.error.contains("unknown option '--epoch' for 'gradscope train'. Did you mean '--epochs'?"), result.error)

        // A name far from every option gets no suggestion.
        let unrelated = try gradscope(["train", "--bogus-option", "3"])
        XCTAssertEqual(unrelated.status, 2)
        XCTAssertTrue(unrelated.error.contains("unknown option '--bogus-option' for 'gradscope train'."), unrelated.error)
        XCTAssertFalse(unrelated.error.contains("Did you mean"), unrelated.error)
    }

    func testUnknownProbeListsNearestPaths() throws {
        let result = try gradscope(["train", "--probe", "features.99", "--out", "run"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.error.contains("the model has no layer 'features.99'; nearest valid paths: "), result.error)
        XCTAssertTrue(result.error.contains(" features.9,"), result.error)
    }

    func testMissingDataDirectoryIsNamed() throws {
        let result = try gradscope(["train", "--data", "no-such-folder", "--out", "run"] + tinyRun)
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.error.contains("no-such-folder"), result.error)
    }

    func testInspectPrintsTorchvisionCount() throws {
        let result = try gradscope(["inspect", "vgg19"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("total parameters: 139,611,210"), result.output)
        XCTAssertTrue(result.output.contains("features.28"))
        XCTAssertTrue(result.output.contains("[1, 512, 7, 7]"), "avgpool enlarges 1x1 to 7x7 at 32x32 input")
    }

    func testWeightsListsFixtureEntries() throws {
        let result = try gradscope(["weights", Fixtures.url("fixture_mini_vgg.pth").path])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("features.0.weight"), result.output)
        XCTAssertTrue(result.output.contains("[8, 3, 3, 3]"), result.output)
    }

    func testTrainingRunAndRefusalToOverwrite() throws {
        let result = try gradscope(["train", "--epochs", "1", "--out", "run"] + tinyRun)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.error.contains("using the built-in synthetic images"), result.error)
        for name in ["config.json", "batches.csv", "epochs.csv", "summary.md", "gradients.png", "report.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("run/\(name)").path), name)
        }
        let again = try gradscope(["train", "--epochs", "1", "--out", "run"] + tinyRun)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.error.contains("already contains a run"), again.error)

        // compare must not write its report over a run's own.
        let report = try Data(contentsOf: scratch.appendingPathComponent("run/report.html"))
        let compare = try gradscope(["compare", "run", "run", "--out", "run"])
        XCTAssertEqual(compare.status, 2)
        XCTAssertTrue(compare.error.contains("--out run contains a run or profile"), compare.error)
        XCTAssertEqual(try Data(contentsOf: scratch.appendingPathComponent("run/report.html")), report)
    }

    func testSyntheticDataNoticeCountsLimitedImages() throws {
        let result = try gradscope(["train", "--epochs", "1", "--out", "limited", "--limit-train", "20", "--limit-test", "5"] + tinyRun)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.error.contains("using the built-in synthetic images (20 train, 5 test, 10 classes, 32x32)"), result.error)
    }

    func testInterruptWritesResultsAndExplainsResume() throws {
        let result = try gradscope(["train", "--epochs", "500", "--out", "stopped"] + tinyRun, interruptAfter: "epoch 1/500")
        XCTAssertEqual(result.status, 130, result.error)
        // The command names the program as it was started, so that it can be pasted back.
        let resume = "Continue with: \(Self.executable.path) train --resume \(scratch.appendingPathComponent("stopped").path)"
        XCTAssertTrue(result.error.contains(resume), result.error)
        let batches = try String(contentsOf: scratch.appendingPathComponent("stopped/batches.csv"), encoding: .utf8)
        XCTAssertGreaterThan(batches.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("stopped/checkpoint/state.json").path))
    }

    /// A SIGINT handler that interrupts oneDNN's JIT matrix products can corrupt the heap, because
    /// those kernels move the stack pointer into heap memory. So SIGINT must have no handler, and
    /// every thread must block it except the one in `sigwait`, which the kernel unblocks meanwhile.
    func testInterruptHasNoHandler() throws {
        var handlerInstalled = true
        var threadsAcceptingInterrupt: [String] = []
        let result = try gradscope(["train", "--epochs", "500", "--out", "masks"] + tinyRun, interruptAfter: "epoch 1/500") { pid in
            handlerInstalled = Self.statusMask("SigCgt", of: "/proc/\(pid)") & Self.interruptBit != 0
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            threadsAcceptingInterrupt = tasks.filter { Self.statusMask("SigBlk", of: "/proc/\(pid)/task/\($0)") & Self.interruptBit == 0 }
        }
        XCTAssertEqual(result.status, 130, result.error)
        XCTAssertFalse(handlerInstalled, "SIGINT has a handler, which may run on a oneDNN thread")
        XCTAssertLessThanOrEqual(threadsAcceptingInterrupt.count, 1, "threads with SIGINT unblocked: \(threadsAcceptingInterrupt)")
    }

    /// Bit `signal - 1` of a signal mask in `/proc/.../status`.
    private static let interruptBit: UInt64 = 1 << (UInt64(SIGINT) - 1)

    /// Reads the hexadecimal mask on the line `field:` of `directory/status`; returns all ones when
    /// the file or line cannot be read.
    private static func statusMask(_ field: String, of directory: String) -> UInt64 {
        guard let status = try? String(contentsOfFile: directory + "/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let mask = UInt64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16)
        else {
            return .max
        }
        return mask
    }

    func testNonfiniteLossStopsWithLayerName() throws {
        let arguments = ["--model", "mlp", "--depth", "3", "--width", "16", "--activation", "relu", "--synthetic-size", "64", "--batch-size", "16"]
        let result = try gradscope(["train", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e30", "--out", "nan"] + arguments)
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.error.contains("training diverged"), result.error)
        XCTAssertTrue(result.error.contains("loss is nan, and the first probed layer with a non-finite gradient (in backward order) is 'layers.4'"), result.error)
    }
}
