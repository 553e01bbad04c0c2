import Foundation

/// Locates the test fixtures (PyTorch-made reference files) in `Tests/Fixtures`.
public enum Fixtures {
    /// The `Tests/Fixtures` directory of this checkout.
    public static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// The URL of a fixture file by name, e.g. `fixture_mini_vgg.safetensors`.
    public static func url(_ name: String) -> URL {
        directory.appendingPathComponent(name)
    }

    /// The parsed JSON of a fixture's expected values.
    public static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// The real CIFAR-10 JPEG folder when this machine has it (as CI does), else nil.
    public static var cifar10JPEGDirectory: URL? {
        let candidate = directory
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared/data/cifar10-jpeg")
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }
}
