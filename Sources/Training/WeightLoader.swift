import Checkpoints
import Foundation
import NeuralNetworks
import Tensors

/// A `--weights` file that does not fit the model.
public struct WeightLoadingError: Error, CustomStringConvertible {
    public var path: String
    public var mismatch: StateDictMismatch

    public var description: String {
        "--weights \(path) does not fit the model (was it saved from another architecture? `gradscope weights FILE` lists its tensors): \(mismatch.description.replacingOccurrences(of: "the state dict does not match the model: ", with: ""))"
    }
}

/// What loading a weights file did, beyond copying matching tensors.
public struct WeightLoadingReport {
    public var loaded: Int
    public var notices: [String]
}

/// Loads pretrained weights into a model by name, with the rule of fine-tuning studies: a
/// classification head (`classifier.6` for VGG, `fc` for ResNet) whose class count differs from the
/// file's keeps its fresh initialisation, and everything else must match exactly.
public enum WeightLoader {
    /// Copies the tensors of a `.pth` or `.safetensors` file into `model`.
    /// - Throws: the checkpoint readers' errors, or `WeightLoadingError` listing every missing,
    ///   unexpected and misshapen entry other than the head.
    public static func load(_ url: URL, into model: Module, specification: ModelSpecification) throws -> WeightLoadingReport {
        let archive = try loadTensorArchive(at: url)
        var entries: [String: Tensor] = [:]
        for (name, tensor) in try archive.floatTensors() {
            entries[name] = tensor
        }

        var notices: [String] = []
        var ignoring: Set<String> = []
        let own = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.shape) })
        let headPrefix = specification.name.hasPrefix("resnet") ? "fc." : "classifier.6."
        let headNames = own.keys.filter { $0.hasPrefix(headPrefix) }
        if headNames.contains(where: { entries[$0] != nil && entries[$0]!.shape != own[$0]! }) {
            ignoring.formUnion(headNames)
            let fileClasses = entries[headPrefix + "weight"]?.shape.first.map(String.init) ?? "?"
            notices.append("--weights: loaded every tensor except the head \(headPrefix.dropLast()) (the file has \(fileClasses) classes, the model \(specification.numClasses)), which keeps its fresh initialisation")
        }
        if !specification.skipConnections {
            let shortcuts = entries.keys.filter { $0.contains(".downsample.") }
            if !shortcuts.isEmpty {
                ignoring.formUnion(shortcuts)
                notices.append("--weights: ignored the \(shortcuts.count) downsample shortcut tensors, which a model without skip connections does not have")
            }
        }

        do {
            try model.loadStateDict(entries, strict: true, ignoring: ignoring)
        } catch let mismatch as StateDictMismatch {
            throw WeightLoadingError(path: url.path, mismatch: mismatch)
        }
        let loaded = own.keys.filter { !ignoring.contains($0) }.count
        notices.append("--weights: loaded \(loaded) tensors from \(url.lastPathComponent) (\(archive.format.displayName))")
        return WeightLoadingReport(loaded: loaded, notices: notices)
    }
}
