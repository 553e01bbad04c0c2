import Foundation
import NeuralNetworks
import Probes
import Reports
@testable import Training
import XCTest

final class RunComparisonTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gradscope-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func train(_ name: String, probes: [String], epochs: Int = 1) throws -> URL {
        var configuration = TrainingConfiguration()
        configuration.model = ModelSpecification(name: "mlp", numClasses: 10, depth: 3, width: 8, activation: .relu)
        configuration.epochs = epochs
        configuration.batchSize = 16
        configuration.learningRate = 1e-3
        configuration.syntheticTrainCount = 32
        configuration.syntheticTestCount = 16
        configuration.probes = probes
        let directory = RunDirectory(url: scratch.appendingPathComponent(name))
        let trainer = try Trainer(configuration: configuration, runDirectory: directory, observer: nil)
        _ = try trainer.run(observer: nil)
        return directory.url
    }

    func testRunsMatchLayersByPath() throws {
        let named = try train("named", probes: ["layers.0=first", "layers.4=last"])
        let plain = try train("plain", probes: ["all-linear"])
        let comparison = RunComparison(runs: [try RunRecord(directory: named), try RunRecord(directory: plain)])

        XCTAssertEqual(comparison.sharedProbes, ["layers.0", "layers.4"])
        XCTAssertEqual(comparison.missingProbes.map(\.run), ["named"])
        XCTAssertEqual(comparison.missingProbes.first?.probes, ["layers.2"])

        let markdown = try comparison.write(to: RunDirectory(url: scratch.appendingPathComponent("comparison")))
        XCTAssertTrue(markdown.contains("first (layers.0)"), markdown)
        XCTAssertTrue(markdown.contains("named lacks the layers layers.2"), markdown)
    }

    private func profile(_ name: String, depth: Int, activation: Activation, width: Int = 16) throws -> URL {
        var configuration = ProfileConfiguration()
        configuration.training.model = ModelSpecification(name: "mlp", numClasses: 10, depth: depth, width: width, activation: activation)
        configuration.training.syntheticTrainCount = 32
        configuration.training.syntheticTestCount = 16
        configuration.training.batchSize = 16
        configuration.batches = 2
        let directory = RunDirectory(url: scratch.appendingPathComponent(name))
        _ = try Profiler.run(configuration, directory: directory, observer: nil)
        return directory.url
    }

    /// The written reading names vanishing against the run's threshold, and a profile's
    /// description leaves out the optimizer it never stepped.
    func testProfileComparisonNamesVanishing() throws {
        let deep = try profile("deep-sigmoid", depth: 10, activation: .sigmoid)
        let shallow = try profile("shallow-relu", depth: 2, activation: .relu)
        let comparison = RunComparison(runs: [try RunRecord(directory: deep), try RunRecord(directory: shallow)])

        let readings = comparison.readings().joined(separator: "\n")
        XCTAssertTrue(readings.contains("Towards the input, the gradient vanishes (falls to "), readings)
        XCTAssertTrue(readings.contains("below the 0.01× threshold) in deep-sigmoid"), readings)
        XCTAssertTrue(readings.contains("(within the thresholds) in shallow-relu."), readings)

        let markdown = try comparison.write(to: RunDirectory(url: scratch.appendingPathComponent("comparison")))
        XCTAssertFalse(markdown.contains(" lr "), markdown)
    }

    /// A training run beside a profile is compared on gradient RMS, which both record, never
    /// a profile's RMS against a run's L2 norm. Different models get a warning.
    func testRunAgainstProfileComparesRMS() throws {
        let run = try RunRecord(directory: try train("run", probes: ["all-linear"]))
        let profiled = try RunRecord(directory: try profile("profile", depth: 3, activation: .relu))
        let comparison = RunComparison(runs: [run, profiled])
        XCTAssertEqual(comparison.sharedProbes, ["layers.0", "layers.2", "layers.4"])

        _ = try comparison.write(to: RunDirectory(url: scratch.appendingPathComponent("comparison")))
        let csv = try String(contentsOf: scratch.appendingPathComponent("comparison/comparison.csv"), encoding: .utf8)
        let rows = try parseCSV(csv).dropFirst()
        XCTAssertEqual(rows.count, 3)
        for row in rows {
            let path = row[0]
            let profileRMS = try XCTUnwrap(profiled.profile?.layers.first { $0.path == path }?.gradOutputRMS)
            XCTAssertEqual(Double(row[1])!, run.lastRMS[path]!, accuracy: abs(run.lastRMS[path]!) * 1e-12, path)
            XCTAssertNotEqual(Double(row[1])!, run.gradientMeans[path]!.last!, path)
            XCTAssertEqual(Double(row[2])!, profileRMS, accuracy: profileRMS * 1e-12, path)
        }
        XCTAssertFalse(comparison.readings().joined().contains("different models"))

        var resnet = run
        resnet.configuration.model = ModelSpecification(name: "resnet18", numClasses: 10)
        let mixed = RunComparison(runs: [resnet, profiled]).readings().joined(separator: "\n")
        XCTAssertTrue(mixed.contains("The runs use different models (resnet18, mlp)"), mixed)
    }

    func testMergedOrderPlacesExtraLayersAfterPredecessor() {
        let withShortcut = ["conv1", "layer1.0.conv1", "layer1.0.conv3", "layer1.0.downsample.0", "layer1.1.conv1", "fc"]
        let plain = ["conv1", "layer1.0.conv1", "layer1.0.conv3", "layer1.1.conv1", "fc"]
        XCTAssertEqual(RunComparison.mergedOrder([plain, withShortcut]), withShortcut)
        XCTAssertEqual(RunComparison.mergedOrder([withShortcut, plain]), withShortcut)
    }

    func testProbeSelectionMatchingNothingIsAnError() throws {
        XCTAssertThrowsError(try train("no-probes", probes: ["all-conv"])) { error in
            XCTAssertTrue("\(error)".contains("--probe all-conv matches no layer of mlp"), "\(error)")
        }
    }

    func testRunStoppedBeforeCheckpointRestartsFromStepZero() throws {
        let url = try train("restart", probes: ["all"])
        try FileManager.default.removeItem(at: url.appendingPathComponent("checkpoint"))
        var configuration = try Resumption.storedConfiguration(in: RunDirectory(url: url))
        configuration.epochs = 1
        let trainer = try Trainer(configuration: configuration, runDirectory: RunDirectory(url: url), observer: nil)
        let position = try Resumption.restore(trainer)
        XCTAssertEqual(position.step, 0)
        XCTAssertFalse(Resumption.isFinished(trainer))
    }

    func testNotLearningFindingNearChance() {
        let stuck = EpochResult(epoch: 3, trainLoss: 2.3, trainAccuracy: 0.1, testLoss: nil, testAccuracy: nil, probes: [])
        XCTAssertNotNil(Diagnosis.learningFinding(epochs: [stuck], classes: 10))
        let learning = EpochResult(epoch: 3, trainLoss: 1.2, trainAccuracy: 0.6, testLoss: nil, testAccuracy: nil, probes: [])
        XCTAssertNil(Diagnosis.learningFinding(epochs: [learning], classes: 10))
    }
}

final class ProfileGainTests: XCTestCase {
    func testGainsSkipShortcutLayers() {
        let paths = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.0.downsample.0", "layer2.0.conv1", "fc"]
        let rms = [8.0, 4.0, 2.0, 100.0, 1.0, 0.5]
        let gains = Profiler.gains(paths: paths, rms: rms)
        XCTAssertEqual(gains[0], 2)
        XCTAssertEqual(gains[1], 2)
        // layer1.0.conv2 feeds layer2.0.conv1, not the shortcut beside it.
        XCTAssertEqual(gains[2], 2)
        XCTAssertNil(gains[3])
        XCTAssertEqual(gains[4], 2)
        XCTAssertNil(gains[5])
    }
}
