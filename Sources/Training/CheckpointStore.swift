import Checkpoints
import FileSupport
import Foundation
import NeuralNetworks
import Reports
import Tensors

/// A checkpoint that cannot be resumed: missing, truncated, of another format version, or of another run.
public struct CheckpointMismatchError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The `checkpoint/` folder of a run: model weights as safetensors with torchvision's names (so
/// `safetensors.torch.load_file` and `load_state_dict` read them in PyTorch), the optimizer's state,
/// and `state.json` with the position, counters, results and random generators.
///
/// `state.json` is written last and names the weight files of its step, so a run stopped while
/// writing a checkpoint still has the previous one intact.
struct CheckpointStore {
    static let formatVersion = 1
    let directory: RunDirectory

    var folder: URL { directory.checkpoint }
    var stateURL: URL { folder.appendingPathComponent("state.json") }

    struct State: Codable {
        var formatVersion: Int
        var gradscopeVersion: String
        var model: String
        var modelFile: String
        var optimizerFile: String
        var training: TrainingState
        /// Dropout generators by module path.
        var generators: [String: [UInt64]]
    }

    func save(trainer: Trainer) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let step = trainer.state.step
        let modelFile = "model-\(step).safetensors"
        let optimizerFile = "optimizer-\(step).safetensors"

        let modelTensors = trainer.model.stateDict().map { name, tensor -> StoredTensor in
            if name.hasSuffix("num_batches_tracked") {
                var count = Int64(tensor.item).littleEndian
                return StoredTensor(name: name, dtype: .i64, shape: [], data: Data(bytes: &count, count: 8))
            }
            return StoredTensor(name: name, tensor: tensor)
        }
        let metadata = ["format": "pt", "model": trainer.configuration.model.name, "gradscope_version": gradScopeVersion, "step": String(step)]
        try writeSafetensors(modelTensors, metadata: metadata, to: folder.appendingPathComponent(modelFile))
        try saveSafetensors(trainer.optimizer.stateTensors(), metadata: ["step": String(step)], to: folder.appendingPathComponent(optimizerFile))

        var generators: [String: [UInt64]] = [:]
        for (path, module) in trainer.model.namedModules() {
            if let dropout = module as? Dropout {
                generators[path] = dropout.generator.state
            }
        }
        let state = State(formatVersion: CheckpointStore.formatVersion, gradscopeVersion: gradScopeVersion,
                          model: trainer.configuration.model.name, modelFile: modelFile, optimizerFile: optimizerFile,
                          training: trainer.state, generators: generators)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeAtomically(try encoder.encode(state), to: stateURL)

        removeFiles(except: [modelFile, optimizerFile, "state.json"])
    }

    private func removeFiles(except kept: Set<String>) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where !kept.contains(name) && name.hasSuffix(".safetensors") {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// Reads `state.json`, checking that it belongs to `modelName` and this format version.
    func loadState(modelName: String) throws -> State {
        guard let data = try? Data(contentsOf: stateURL) else {
            throw CheckpointMismatchError(message: "no checkpoint in \(directory.url.path): \(stateURL.path) is missing; only runs written by gradscope train can be resumed")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let state: State
        do {
            state = try decoder.decode(State.self, from: data)
        } catch {
            throw CheckpointMismatchError(message: "the checkpoint \(stateURL.path) is corrupt or truncated (\(error)); it cannot be resumed")
        }
        guard state.formatVersion == CheckpointStore.formatVersion else {
            throw CheckpointMismatchError(message: "the checkpoint \(stateURL.path) has format version \(state.formatVersion), this GradScope reads version \(CheckpointStore.formatVersion)")
        }
        guard state.model == modelName else {
            throw CheckpointMismatchError(message: "the checkpoint \(stateURL.path) is of model \(state.model), the run's configuration names \(modelName)")
        }
        return state
    }

    /// Restores model weights, optimizer state and dropout generators of `state` into `trainer`.
    func restore(_ state: State, into trainer: Trainer) throws {
        let modelArchive = try loadTensorArchive(at: folder.appendingPathComponent(state.modelFile))
        var entries: [String: Tensor] = [:]
        for (name, tensor) in try modelArchive.floatTensors() {
            entries[name] = tensor
        }
        do {
            try trainer.model.loadStateDict(entries)
        } catch let mismatch as StateDictMismatch {
            throw CheckpointMismatchError(message: "the checkpoint \(state.modelFile) does not fit the model: \(mismatch)")
        }

        let optimizerArchive = try loadTensorArchive(at: folder.appendingPathComponent(state.optimizerFile))
        var optimizerEntries: [String: Tensor] = [:]
        for (name, tensor) in try optimizerArchive.floatTensors() {
            optimizerEntries[name] = tensor
        }
        try trainer.optimizer.loadStateTensors(optimizerEntries)

        for (path, module) in trainer.model.namedModules() {
            if let dropout = module as? Dropout, let saved = state.generators[path], let generator = RandomGenerator(state: saved) {
                dropout.generator = generator
            }
        }
        trainer.state = state.training
    }
}
