import Foundation

/// Python virtual environments for tests that read GradScope's files with reference packages
/// (`safetensors`, `tensorboard`). Each is created once and reused.
public enum PythonEnvironment {
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The interpreter of the virtual environment `name`, which can import `module`; created with
    /// `packages` from PyPI when missing.
    ///
    /// The environment lives in `$GRADSCOPE_VENV_<NAME>` when that is set, else in
    /// `<temporary directory>/gradscope-venv-<name>`.
    /// - Throws: `SetupError` with the failing command's output and how to create it by hand.
    public static func python(name: String, packages: [String], module: String) throws -> String {
        let variable = "GRADSCOPE_VENV_" + name.uppercased()
        let directory = ProcessInfo.processInfo.environment[variable]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("gradscope-venv-\(name)").path
        let python = directory + "/bin/python"
        if (try? run(python, arguments: ["-c", "import \(module)"])) != nil {
            return python
        }

        do {
            _ = try run("/usr/bin/env", arguments: ["python3", "-m", "venv", directory])
            _ = try run(directory + "/bin/pip", arguments: ["install", "--quiet"] + packages)
            _ = try run(python, arguments: ["-c", "import \(module)"])
        } catch {
            throw SetupError(description: """
                cannot set up the Python environment \(directory) with \(packages.joined(separator: " ")): \(error). \
                Create it with `python3 -m venv \(directory) && \(directory)/bin/pip install \(packages.joined(separator: " "))`, \
                or set \(variable) to an environment that has them.
                """)
        }
        return python
    }

    /// Runs `executable` and returns its standard output.
    /// - Throws: `SetupError` with the standard error text when the exit status is not 0.
    public static func run(_ executable: String, arguments: [String], environment extra: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let outputPipe = Pipe()
        let errorPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe

        try process.run()
        let output = outputPipe.fileHandleForReading.readDataToEndOfFile()
        let errorOutput = errorPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()

        guard process.terminationStatus == 0 else {
            throw SetupError(description: "\(executable) exited with status \(process.terminationStatus): \(String(decoding: errorOutput, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
