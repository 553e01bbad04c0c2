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

    /// Resolves requests of the forms `PATH`, `PATH=NAME`, `all-conv`, `all-linear` and `all`
    /// (every convolution and linear layer) into targets in the model's forward (registration) order
    /// for the `all` forms, and request order otherwise. Duplicates are kept once.
    /// - Throws: `ProbeSelectionError` for an unknown path, listing the nearest valid paths, or a
    ///   path naming a container instead of a layer, or a name used twice.
    public static func resolve(_ requests: [String], in model: Module) throws -> [ProbeTarget] {
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
            case "all", "all-conv", "all-linear":
                for (path, module) in layers {
                    let isConvolution = module is Conv2d
                    let isLinear = module is Linear
                    if (request == "all" && (isConvolution || isLinear)) || (request == "all-conv" && isConvolution) || (request == "all-linear" && isLinear) {
                        try add(ProbeTarget(path: path, name: path))
                    }
                }
            default:
                let parts = request.split(separator: "=", maxSplits: 1).map(String.init)
                let path = Module.canonicalPath(parts[0])
                guard !path.isEmpty else {
                    throw ProbeSelectionError(message: "--probe '\(request)' has no layer path; use PATH or PATH=NAME, e.g. features.0=conv1")
                }
                let name = parts.count > 1 ? parts[1] : path
                guard !name.isEmpty, !name.contains(",") else {
                    throw ProbeSelectionError(message: "--probe '\(request)' has an invalid name; names must be non-empty and contain no commas")
                }
                guard let module = model.module(at: path) else {
                    let nearest = nearestPaths(to: path, among: model.namedModules().map(\.path).filter { !$0.isEmpty })
                    throw ProbeSelectionError(message: "--probe: the model has no layer '\(parts[0])'; nearest valid paths: \(nearest.joined(separator: ", ")) (see `gradscope inspect` for all)")
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
