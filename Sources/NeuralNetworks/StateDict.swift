import Foundation
import Tensors

/// What `loadStateDict` found when a state dict did not match the model exactly.
public struct StateDictMismatch: Error, Equatable, CustomStringConvertible {
    /// Names the model has and the state dict lacks.
    public var missing: [String] = []
    /// Names the state dict has and the model lacks.
    public var unexpected: [String] = []
    /// Names present in both with different shapes.
    public var wrongShape: [(name: String, expected: [Int], actual: [Int])] = []

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && wrongShape.isEmpty }

    public static func == (a: StateDictMismatch, b: StateDictMismatch) -> Bool {
        a.missing == b.missing && a.unexpected == b.unexpected
            && a.wrongShape.map { "\($0)" } == b.wrongShape.map { "\($0)" }
    }

    /// A summary with counts, then at most ten names of each kind.
    public var description: String {
        var lines = ["the state dict does not match the model: \(missing.count) missing, \(unexpected.count) unexpected, \(wrongShape.count) with the wrong shape"]
        func list<Item>(_ items: [Item], _ line: (Item) -> String) {
            lines += items.prefix(10).map(line)
            if items.count > 10 {
                lines.append("    ... and \(items.count - 10) more")
            }
        }
        list(missing) { "  missing: \($0)" }
        list(unexpected) { "  unexpected: \($0)" }
        list(wrongShape) { "  wrong shape: \($0.name) is \($0.actual) in the file, the model needs \($0.expected)" }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// Parameters and buffers by dotted name, module by module in the order PyTorch's
    /// `state_dict()` uses (each module's parameters, then its buffers). The tensors are the
    /// model's own, not copies.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        namedModules().flatMap { path, module in
            module.parameters.map { (Module.join(path, $0.name), $0.tensor) }
                + module.buffers.map { (Module.join(path, $0.name), $0.tensor) }
        }
    }

    /// Copies values from `entries` into the parameters and buffers of the same name.
    ///
    /// Entries with a wrong shape are never copied. With `strict`, any missing, unexpected or
    /// misshapen entry throws `StateDictMismatch` listing all of them before anything is copied;
    /// without it, matching entries are copied and the mismatch is returned.
    /// - Parameter ignoring: names left out of the comparison and not copied.
    @discardableResult
    public func loadStateDict(
        _ entries: [String: Tensor], strict: Bool = true, ignoring: Set<String> = []
    ) throws -> StateDictMismatch {
        let own = stateDict().filter { !ignoring.contains($0.name) }
        var mismatch = StateDictMismatch()
        let ownNames = Set(own.map(\.name))
        mismatch.unexpected = entries.keys.filter { !ownNames.contains($0) && !ignoring.contains($0) }.sorted()
        for (name, tensor) in own {
            guard let source = entries[name] else {
                mismatch.missing.append(name)
                continue
            }
            if source.shape != tensor.shape {
                mismatch.wrongShape.append((name, tensor.shape, source.shape))
            }
        }
        if strict && !mismatch.isEmpty {
            throw mismatch
        }

        let skipped = Set(mismatch.wrongShape.map(\.name))
        for (name, tensor) in own where !skipped.contains(name) {
            if let source = entries[name] {
                tensor.assign(from: source)
            }
        }
        return mismatch
    }
}
