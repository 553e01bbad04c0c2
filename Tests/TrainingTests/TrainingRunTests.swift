import Foundation
import NeuralNetworks
import Probes
import Reports
import Tensors
@testable import Training
import XCTest

/// Small runs of the whole training loop on the built-in synthetic images, checking the files a
/// run leaves behind, interruption, divergence and resumption.
final class TrainingRunTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("gradscope-training-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A three-layer ReLU MLP on 40 synthetic training and 16 test images, batch 8: five steps an epoch.
    private func tinyConfiguration() -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.model = ModelSpecification(name: "mlp", numClasses: 10, depth: 3, width: 16, activation: .relu)
        configuration.epochs = 2
        configuration.batchSize = 8
        configuration.learningRate = 1e-3
        configuration.syntheticTrainCount = 40
        configuration.syntheticTestCount = 16
        configuration.seed = 3
        return configuration
    }

    private func run(_ configuration: TrainingConfiguration, in name: String, stopAfterSteps: Int? = nil) throws -> (RunDirectory, RunOutcome) {
        let directory = RunDirectory(url: scratch.appendingPathComponent(name))
        let trainer = try Trainer(configuration: configuration, runDirectory: directory, observer: nil)
        var steps = 0
        let outcome = try trainer.run(observer: nil) {
            steps += 1
            return stopAfterSteps.map { steps >= $0 } ?? false
        }
        return (directory, outcome)
    }

    private func csv(_ url: URL) throws -> [[String]] {
        try parseCSV(String(contentsOf: url, encoding: .utf8))
    }

    func testRunWritesEveryFile() throws {
        let (directory, outcome) = try run(tinyConfiguration(), in: "complete")
        XCTAssertEqual(outcome, .finished)

        let batches = try csv(directory.batches)
        XCTAssertEqual(batches[0], ["epoch", "step", "probe", "path", "loss"] + Metric.allCases.map(\.name))
        // Two epochs of five steps, one row per probed linear layer (three of them).
        XCTAssertEqual(batches.count - 1, 2 * 5 * 3)
        XCTAssertEqual(Set(batches.dropFirst().map { $0[3] }), ["layers.0", "layers.2", "layers.4"])
        XCTAssertEqual(batches.dropFirst().map { Int($0[1])! }.max(), 10)
        XCTAssertTrue(batches.dropFirst().allSatisfy { Double($0[5])! >= 0 }, "every grad_output_l2 is a norm")
        XCTAssertTrue(batches.dropFirst().prefix(3).allSatisfy { Double($0[5])! > 0 }, "the first step has gradients everywhere")

        let epochs = try csv(directory.epochs)
        XCTAssertEqual(epochs[0].prefix(7), ["epoch", "probe", "path", "train_loss", "train_accuracy", "test_loss", "test_accuracy"])
        XCTAssertTrue(epochs[0].contains("grad_output_l2_mean"))
        XCTAssertTrue(epochs[0].contains("update_ratio_p95"))
        XCTAssertEqual(epochs.count - 1, 2 * 3)

        // The epoch mean is the mean of that epoch's per-batch values, as the original analysis aggregated.
        let column = epochs[0].firstIndex(of: "grad_output_l2_mean")!
        let firstLayerEpoch1 = batches.dropFirst().filter { $0[0] == "1" && $0[3] == "layers.0" }.map { Double($0[5])! }
        let row = epochs.first { $0[0] == "1" && $0[2] == "layers.0" }!
        XCTAssertEqual(Double(row[column])!, firstLayerEpoch1.reduce(0, +) / Double(firstLayerEpoch1.count), accuracy: 1e-12)

        let summary = try String(contentsOf: directory.summary, encoding: .utf8)
        XCTAssertTrue(summary.contains("| layer"))
        XCTAssertTrue(summary.contains("Epochs 1–2 of 2"))
        for url in [directory.gradientsPNG, directory.lossPNG, directory.heatmapPNG] {
            let data = try Data(contentsOf: url)
            XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], url.lastPathComponent)
        }
        XCTAssertTrue(try String(contentsOf: directory.gradientsSVG, encoding: .utf8).contains("<svg"))
        let html = try String(contentsOf: directory.report, encoding: .utf8)
        XCTAssertTrue(html.contains("<svg"))
        XCTAssertFalse(html.contains("<script"))

        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.configuration)) as! [String: Any]
        XCTAssertEqual(config["gradscopeVersion"] as? String, gradScopeVersion)
        let events = try FileManager.default.contentsOfDirectory(atPath: directory.url.path).filter { $0.hasPrefix("events.out.tfevents.") }
        XCTAssertEqual(events.count, 1)
    }

    func testInterruptedRunKeepsCompleteFiles() throws {
        let (directory, outcome) = try run(tinyConfiguration(), in: "interrupted", stopAfterSteps: 7)
        XCTAssertEqual(outcome, .interrupted(epoch: 2, step: 7))
        XCTAssertEqual(try csv(directory.batches).count - 1, 7 * 3)
        // Only the finished first epoch is in epochs.csv.
        XCTAssertEqual(Set(try csv(directory.epochs).dropFirst().map { $0[0] }), ["1"])
    }

    func testDivergenceNamesLayerAndKeepsResults() throws {
        var configuration = tinyConfiguration()
        configuration.optimizer = .sgd
        configuration.learningRate = 1e30
        XCTAssertThrowsError(try run(configuration, in: "diverged")) { error in
            guard let diverged = error as? TrainingDivergedError else {
                return XCTFail("expected TrainingDivergedError, got \(error)")
            }
            XCTAssertNotNil(diverged.layer, "\(diverged)")
            // Backward reaches the output side first, so it is the first to show the non-finite gradient.
            XCTAssertEqual(diverged.layer?.path, "layers.4")
            XCTAssertTrue(diverged.description.contains("--continue-on-nonfinite"))
            let rows = try? self.csv(diverged.runDirectory.appendingPathComponent("batches.csv"))
            XCTAssertEqual(rows.map { ($0.count - 1) / 3 }, diverged.step)
        }
    }

    func testResumedRunsMatchUninterruptedRun() throws {
        var configuration = tinyConfiguration()
        configuration.checkpointEvery = 2
        let (reference, _) = try run(configuration, in: "reference")

        // Stopped mid-epoch (after step 3), and again exactly at an epoch boundary (after step 5).
        for stops in [[3], [5], [3, 8]] {
            let name = "resumed-\(stops.map(String.init).joined(separator: "-"))"
            var (directory, outcome) = try run(configuration, in: name, stopAfterSteps: stops[0])
            XCTAssertEqual(outcome, .interrupted(epoch: stops[0] / 5 + (stops[0] % 5 == 0 ? 0 : 1), step: stops[0]))
            for (index, _) in stops.enumerated() {
                let trainer = try Trainer(configuration: configuration, runDirectory: directory, observer: nil)
                _ = try Resumption.restore(trainer)
                var steps = stops[index]
                let next = index + 1 < stops.count ? stops[index + 1] : nil
                outcome = try trainer.run(observer: nil) {
                    steps += 1
                    return next.map { steps >= $0 } ?? false
                }
            }
            XCTAssertEqual(outcome, .finished)
            XCTAssertEqual(try Data(contentsOf: directory.batches), try Data(contentsOf: reference.batches), "\(name) batches.csv")
            XCTAssertEqual(try Data(contentsOf: directory.epochs), try Data(contentsOf: reference.epochs), "\(name) epochs.csv")
            directory = reference
        }
    }

    func testExtendingFinishedRunCoversAllEpochs() throws {
        var configuration = tinyConfiguration()
        configuration.epochs = 1
        let (directory, _) = try run(configuration, in: "extended")
        configuration.epochs = 3
        let trainer = try Trainer(configuration: configuration, runDirectory: directory, observer: nil)
        let position = try Resumption.restore(trainer)
        XCTAssertEqual(position.epoch, 2)
        XCTAssertEqual(try trainer.run(observer: nil), .finished)

        XCTAssertEqual(Set(try csv(directory.epochs).dropFirst().map { $0[0] }), ["1", "2", "3"])
        let summary = try String(contentsOf: directory.summary, encoding: .utf8)
        XCTAssertTrue(summary.contains("Epochs 1–3 of 3"), summary)
        let svg = try String(contentsOf: directory.gradientsSVG, encoding: .utf8)
        XCTAssertTrue(svg.contains("epoch"))
    }

    func testResumeRejectsChangedOption() throws {
        var stored = tinyConfiguration()
        stored.learningRate = 0.01
        var given = TrainingConfiguration()
        given.learningRate = 0.5
        XCTAssertThrowsError(try Resumption.merge(stored: stored, given: given, givenOptions: ["--lr"])) { error in
            XCTAssertEqual("\(error)", "--lr is 0.5 here but the run was started with 0.01; leave it out when resuming, or start a new run")
        }
        given.epochs = 30
        XCTAssertEqual(try Resumption.merge(stored: stored, given: given, givenOptions: ["--epochs"]).epochs, 30)
    }

    /// Asking a finished run for fewer epochs is caught from its state file alone, before a
    /// trainer or its data exist.
    func testResumeWithFewerEpochsIsRejectedEarly() throws {
        var configuration = tinyConfiguration()
        configuration.epochs = 2
        let (directory, _) = try run(configuration, in: "finished")

        configuration.epochs = 1
        XCTAssertThrowsError(try Resumption.checkEpochs(configuration, in: directory)) { error in
            XCTAssertEqual("\(error)", "--epochs 1 is below the 2 epochs this run has finished; give --epochs 2 or more")
        }
        configuration.epochs = 2
        XCTAssertNoThrow(try Resumption.checkEpochs(configuration, in: directory))
        XCTAssertNoThrow(try Resumption.checkEpochs(configuration, in: RunDirectory(url: scratch.appendingPathComponent("never-started"))))
    }

    /// A run stopped inside its first epoch has nothing to diagnose. The summary states that
    /// instead of reporting that no layer crossed a threshold.
    func testSummaryWithoutFinishedEpochMakesNoClaim() {
        let summary = RunSummary(
            configuration: tinyConfiguration(), results: [], diagnoses: [], forwardOrder: [], dataOrigin: "synthetic").markdown()
        XCTAssertTrue(summary.contains("- None yet: the diagnosis reads finished epochs, and no epoch has finished."), summary)
        XCTAssertFalse(summary.contains("No layer crossed a threshold"), summary)
    }

    /// `config.json` keeps only the model family's own settings. So an MLP option given when
    /// resuming a ResNet run is ignored, as it was when the run started. On an MLP run it counts.
    func testResumeIgnoresOtherFamilysModelOptions() throws {
        var stored = tinyConfiguration()
        stored.model = ModelSpecification(name: "resnet18")
        var given = stored
        given.model.depth = 7
        given.model.dropout = 0.1
        XCTAssertNoThrow(try Resumption.merge(stored: stored, given: given, givenOptions: ["--depth", "--dropout"]))

        given.model.skipConnections = false
        XCTAssertThrowsError(try Resumption.merge(stored: stored, given: given, givenOptions: ["--no-skip"]))

        stored.model = ModelSpecification(name: "mlp", depth: 3)
        given.model = ModelSpecification(name: "mlp", depth: 7)
        XCTAssertThrowsError(try Resumption.merge(stored: stored, given: given, givenOptions: ["--depth"])) { error in
            XCTAssertEqual("\(error)", "--depth is 7 here but the run was started with 3; leave it out when resuming, or start a new run")
        }
    }

    func testConvolutionAlgorithmOptionApplied() throws {
        let saved = ConvolutionAlgorithm.current
        defer { ConvolutionAlgorithm.current = saved }

        var configuration = tinyConfiguration()
        configuration.convolutionAlgorithm = .direct
        let directory = RunDirectory(url: scratch.appendingPathComponent("direct"))
        _ = try Trainer(configuration: configuration, runDirectory: directory, observer: nil)
        XCTAssertEqual(ConvolutionAlgorithm.current, .direct)

        // config.json files written before the option existed have no such key.
        let encoded = try JSONEncoder().encode(tinyConfiguration())
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        object["convolutionAlgorithm"] = nil
        let older = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(older.convolutionAlgorithm)
        _ = try Trainer(configuration: older, runDirectory: directory, observer: nil)
        XCTAssertEqual(ConvolutionAlgorithm.current, .automatic)

        // A resumed run keeps its algorithm; an older run's is automatic.
        var requested = TrainingConfiguration()
        requested.convolutionAlgorithm = .direct
        XCTAssertThrowsError(try Resumption.merge(stored: older, given: requested, givenOptions: ["--convolution-algorithm"])) { error in
            XCTAssertEqual("\(error)", "--convolution-algorithm is direct here but the run was started with automatic; leave it out when resuming, or start a new run")
        }
        requested.convolutionAlgorithm = .automatic
        XCTAssertNoThrow(try Resumption.merge(stored: older, given: requested, givenOptions: ["--convolution-algorithm"]))
    }

    func testCorruptCheckpointIsRejected() throws {
        var configuration = tinyConfiguration()
        configuration.epochs = 1
        let (directory, _) = try run(configuration, in: "corrupt")
        let state = directory.checkpoint.appendingPathComponent("state.json")
        let data = try Data(contentsOf: state)
        try data.prefix(data.count / 2).write(to: state)
        let before = try Data(contentsOf: directory.batches)

        configuration.epochs = 2
        let trainer = try Trainer(configuration: configuration, runDirectory: directory, observer: nil)
        XCTAssertThrowsError(try Resumption.restore(trainer)) { error in
            XCTAssertTrue("\(error)".contains("corrupt or truncated"), "\(error)")
        }
        XCTAssertEqual(try Data(contentsOf: directory.batches), before)
    }
}
