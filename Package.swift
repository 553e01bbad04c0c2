// swift-tools-version:6.0
import PackageDescription

// Modules, lowest first. Each depends only on modules listed before it:
// C shims, FileSupport -> Tensors -> NeuralNetworks -> Checkpoints -> Datasets -> Probes
// -> Reports -> Training -> gradscope. FileSupport (atomic file writing) serves both the
// checkpoint writer and the report writers.
let releaseFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

// The numerical modules are optimised in debug builds too, so the test suite (built in debug)
// runs models and kernels at a usable speed.
let numericFlags: [SwiftSetting] = releaseFlags + [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "GradScope",
    products: [
        .executable(name: "gradscope", targets: ["gradscope"]),
        .library(name: "GradScope", targets: ["Training"]),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CCairo", path: "Sources/CCairo"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

        .target(name: "FileSupport", swiftSettings: releaseFlags),
        .target(name: "Tensors", dependencies: ["CDNNL"], swiftSettings: numericFlags),
        .target(name: "NeuralNetworks", dependencies: ["Tensors"], swiftSettings: numericFlags),
        .target(name: "Checkpoints", dependencies: ["Tensors", "FileSupport", "CZlib"], swiftSettings: releaseFlags),
        .target(
            name: "Datasets",
            dependencies: ["Tensors", "Checkpoints", "CJPEG", "CPNG", "CZlib"],
            swiftSettings: numericFlags),
        .target(name: "Probes", dependencies: ["Tensors", "NeuralNetworks"], swiftSettings: releaseFlags),
        .target(name: "Reports", dependencies: ["FileSupport", "CCairo", "CZlib"], swiftSettings: releaseFlags),
        .target(
            name: "Training",
            dependencies: ["FileSupport", "Tensors", "NeuralNetworks", "Checkpoints", "Datasets", "Probes", "Reports"],
            swiftSettings: releaseFlags),
        .executableTarget(name: "gradscope", dependencies: ["Training"], swiftSettings: releaseFlags),
        .executableTarget(
            name: "gradscope-bench", dependencies: ["Training"], path: "Benchmarks/Sources/gradscope-bench",
            swiftSettings: releaseFlags),

        .target(name: "TestSupport", dependencies: ["Tensors"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "NeuralNetworksTests", dependencies: ["NeuralNetworks", "Checkpoints", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "NeuralNetworks", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"]),
        .testTarget(name: "ProbesTests", dependencies: ["Probes", "Checkpoints", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "FileSupport", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
