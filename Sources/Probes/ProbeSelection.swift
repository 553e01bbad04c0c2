import NeuralNetworks

/// A layer to observe: its torchvision path and the name it has in outputs.
public struct ProbeTarget: Equatable, Codable, Sendable {
    /// The canonical dotted path, e.g. `features.0`.
    public var path: String
    /// The name in CSV files, plots and reports, e.g. `conv1`; the path when none was given.
    public var name: String

    public init(path: String, name: String) {
        self.path = path
        self.name = name
    }
}

/// A `--probe` value that names no layer of the model, or is malformed.
public struct ProbeSelectionError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Turns `--probe` requests into targets on a model.
public enum ProbeSelection {
    /// The four layers the original VGG19 analysis hooked, with its names.
    public static let originalVGGProbes = ["features.0=conv1", "features.10=conv_mid", "features.28=conv_deep", "classifier.0=fc1"]

    /// The request for the original analysis's places in any VGG: the first convolution of
    /// blocks 1, 3 and 5 and `classifier.0`, named conv1, conv_mid, conv_deep and fc1. In VGG19
    /// these are `originalVGGProbes`; in VGG11 they are features.0, features.6 and features.16.
    public static let vggBlocksRequest = "vgg-blocks"

    /// Returns the first convolution of VGG blocks 1, 3 and 5 (a block ends at a max pooling
    /// layer) and `classifier.0`.
    /// - Throws: `ProbeSelectionError` when the model has no such layers.
    private static func vggBlockTargets(layers: [(path: String, module: Module)]) throws -> [ProbeTarget] {
        var blockStarts: [String] = []
        var startsBlock = true
        for (path, module) in layers where path.hasPrefix("features.") {
            if module is Conv2d && startsBlock {
                blockStarts.append(path)
                startsBlock = false
            }
            if module is MaxPool2d {
                startsBlock = true
            }
        }
        let hasClassifier = layers.contains { $0.path == "classifier.0" && $0.module is Linear }
        guard blockStarts.count >= 5, hasClassifier else {
            throw ProbeSelectionError(message: "--probe \(vggBlocksRequest) needs a VGG model (five convolution blocks in 'features' and a linear 'classifier.0'); give layer paths instead (see `gradscope inspect`)")
        }
        return [
            ProbeTarget(path: blockStarts[0], name: "conv1"), ProbeTarget(path: blockStarts[2], name: "conv_mid"),
            ProbeTarget(path: blockStarts[4], name: "conv_deep"), ProbeTarget(path: "classifier.0", name: "fc1"),
        ]
    }

    /// Resolves requests of the forms `PATH`, `PATH=NAME`, `all-conv`, `all-linear`, `all`
    /// (every convolution and linear layer) and `vgg-blocks` (see `vggBlocksRequest`) into targets in the model's forward (registration) order
    /// for the `all` forms, and request order otherwise. Duplicates are kept once.
    /// - Throws: `ProbeSelectionError` for an unknown path, listing the nearest valid paths, or a
    ///   path naming a container instead of a layer, or a name used twice.
    public static func resolve(_ requests: [String], in model: Module) throws -> [ProbeTarget] {
        /// Splits `PATH=NAME` at its first `=`. The name is nil without one and may be empty.
        func splitPathAndName(_ request: String) -> (path: String, name: String?) {
            guard let separator = request.firstIndex(of: "=") else {
                return (request, nil)
            }
            return (String(request[..<separator]), String(request[request.index(after: separator)...]))
        }

        var targets: [ProbeTarget] = []
        func add(_ target: ProbeTarget) throws {
            if let existing = targets.first(where: { $0.name == target.name }), existing.path != target.path {
                throw ProbeSelectionError(message: "probe name '\(target.name)' is used for both '\(existing.path)' and '\(target.path)'; give one of them another name with PATH=NAME")
            }
            if !targets.contains(target) {
                targets.append(target)
            }
        }

        let layers = model.namedModules().filter { !$0.path.isEmpty && $0.module.children.isEmpty }
        for request in requests {
            switch request {
            case vggBlocksRequest:
                for target in try vggBlockTargets(layers: layers) {
                    try add(target)
                }
            case "all", "all-conv", "all-linear":
                for (path, module) in layers {
                    let isConvolution = module is Conv2d
                    let isLinear = module is Linear
                    if (request == "all" && (isConvolution || isLinear)) || (request == "all-conv" && isConvolution) || (request == "all-linear" && isLinear) {
                        try add(ProbeTarget(path: path, name: path))
                    }
                }
            default:
                let (requestedPath, requestedName) = splitPathAndName(request)
                let path = Module.canonicalPath(requestedPath)
                guard Module.isWellFormedPath(requestedPath) else {
                    throw ProbeSelectionError(message: "--probe '\(request)' is not a layer path; use PATH or PATH=NAME with a dotted path such as features.0 (see `gradscope inspect`)")
                }
                let name = requestedName ?? path
                guard !name.isEmpty, !name.contains(",") else {
                    throw ProbeSelectionError(message: "--probe '\(request)' has an invalid name; names must be non-empty and contain no commas")
                }
                guard let module = model.module(at: path) else {
                    let nearest = nearestPaths(to: path, among: layers.map(\.path))
                    throw ProbeSelectionError(message: "--probe: the model has no layer '\(requestedPath)'; nearest valid paths: \(nearest.joined(separator: ", ")) (see `gradscope inspect` for all)")
                }
                guard module.children.isEmpty else {
                    let inside = layers.filter { $0.path.hasPrefix(path + ".") }.prefix(5).map(\.path)
                    throw ProbeSelectionError(message: "--probe: '\(path)' is a container (\(module.typeDescription)), not a layer; probe one of its layers, e.g. \(inside.joined(separator: ", "))")
                }
                try add(ProbeTarget(path: path, name: name))
            }
        }
        return targets
    }

    /// The `count` paths closest to `path` by edit distance.
    static func nearestPaths(to path: String, among candidates: [String], count: Int = 5) -> [String] {
        let scored = candidates.map { ($0, editDistance(path, $0)) }
        return scored.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.prefix(count).map(\.0)
    }

    /// The Levenshtein distance between two strings.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
