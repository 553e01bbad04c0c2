import Foundation

/// The files of one run, all in one directory.
public struct RunDirectory: Sendable {
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// A new directory name under `runs/` from the model and the current time, e.g. `runs/vgg19-20261204-153000`.
    public static func defaultURL(model: String, date: Date = Date()) -> URL {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return URL(fileURLWithPath: "runs").appendingPathComponent("\(model)-\(formatter.string(from: date))")
    }

    public var configuration: URL { file("config.json") }
    public var batches: URL { file("batches.csv") }
    public var epochs: URL { file("epochs.csv") }
    public var summary: URL { file("summary.md") }
    public var gradientsPNG: URL { file("gradients.png") }
    public var gradientsSVG: URL { file("gradients.svg") }
    public var lossPNG: URL { file("loss.png") }
    public var heatmapPNG: URL { file("heatmap.png") }
    public var heatmapSVG: URL { file("heatmap.svg") }
    public var report: URL { file("report.html") }
    public var checkpoint: URL { file("checkpoint") }

    func file(_ name: String) -> URL {
        url.appendingPathComponent(name)
    }

    /// Creates the directory (and its parents) when missing.
    /// - Throws: `ConfigurationError` when the path exists as a file or cannot be created.
    public func create() throws {
        try checkCreatable()
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            // Foundation's message hides the system's reason, so mkdir(2) runs again to get it.
            // When that succeeds (the first failure was a passing one), the directory exists.
            guard mkdir(url.path, 0o755) != 0 else {
                return
            }
            let reason = String(cString: strerror(errno))
            throw ConfigurationError("cannot create the run directory \(url.path) (\(reason)); choose another --out")
        }
    }

    /// Checks, without creating anything, that the directory exists or can be created: its
    /// nearest existing ancestor must be a writable directory. Commands call it before they load
    /// data, so a bad `--out` fails at once.
    /// - Throws: `ConfigurationError` naming the path that is a file or not writable.
    public func checkCreatable() throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ConfigurationError("--out \(url.path) is a file, not a directory; choose another path")
            }
            return
        }

        var ancestor = url.standardizedFileURL.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) {
            ancestor = ancestor.deletingLastPathComponent()
        }
        guard isDirectory.boolValue else {
            throw ConfigurationError("cannot create the run directory \(url.path): \(ancestor.path) is a file, not a directory; choose another --out")
        }
        guard access(ancestor.path, W_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw ConfigurationError("cannot create the run directory \(url.path): \(ancestor.path) is not writable (\(reason)); choose another --out")
        }
    }

    /// Whether the directory already holds a run's results.
    public var containsRun: Bool {
        FileManager.default.fileExists(atPath: configuration.path) || FileManager.default.fileExists(atPath: batches.path)
    }
}
