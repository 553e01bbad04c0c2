import Foundation
import Tensors

/// The file format a `TensorArchive` was read from.
public enum TensorArchiveFormat: String, Sendable {
    /// A safetensors file.
    case safetensors
    /// A `torch.save` zip archive (the default since PyTorch 1.6).
    case torchZip
    /// A `torch.save(..., _use_new_zipfile_serialization=False)` file: pickles followed by raw storages.
    case torchLegacy
    /// Built in memory.
    case memory

    /// The format's name for messages, e.g. "PyTorch zip checkpoint".
    public var displayName: String {
        switch self {
        case .safetensors: "safetensors"
        case .torchZip: "PyTorch zip checkpoint"
        case .torchLegacy: "PyTorch legacy checkpoint"
        case .memory: "in memory"
        }
    }
}

/// An ordered map from names to stored tensors, with string metadata: a state dict as a file stores it.
public struct TensorArchive {
    /// The tensors in file order.
    public private(set) var tensors: [StoredTensor]

    /// The safetensors `__metadata__` map; empty for PyTorch checkpoints.
    public var metadata: [String: String]

    /// The format the archive was read from.
    public let format: TensorArchiveFormat

    private var indexByName: [String: Int]

    /// Creates an archive from tensors with unique names.
    /// - Throws: `CheckpointError.duplicateName` naming `path` when two tensors share a name.
    public init(
        tensors: [StoredTensor], metadata: [String: String] = [:], format: TensorArchiveFormat = .memory,
        path: String = "<memory>"
    ) throws {
        var indexByName: [String: Int] = [:]
        for (index, tensor) in tensors.enumerated() {
            guard indexByName.updateValue(index, forKey: tensor.name) == nil else {
                throw CheckpointError.duplicateName(path: path, name: tensor.name)
            }
        }
        self.tensors = tensors
        self.metadata = metadata
        self.format = format
        self.indexByName = indexByName
    }

    /// The tensor names in file order.
    public var names: [String] {
        tensors.map(\.name)
    }

    /// The number of tensors.
    public var count: Int {
        tensors.count
    }

    /// The tensor with a name, or nil.
    public subscript(name: String) -> StoredTensor? {
        guard let index = indexByName[name] else {
            return nil
        }
        return tensors[index]
    }

    /// Returns whether a tensor with this name exists.
    public func contains(_ name: String) -> Bool {
        indexByName[name] != nil
    }

    /// Converts every tensor to float32, in file order.
    /// - Throws: `CheckpointError.valueOutOfRange` from `StoredTensor.floatTensor()`.
    public func floatTensors() throws -> [(name: String, tensor: Tensor)] {
        try tensors.map { ($0.name, try $0.floatTensor()) }
    }

    /// One row per tensor: name, dtype and shape, in file order.
    public var listing: [TensorListingEntry] {
        tensors.map { TensorListingEntry(name: $0.name, dtype: $0.dtype, shape: $0.shape, byteCount: $0.data.count) }
    }

    /// Formats the listing as text, one tensor per line with aligned columns, e.g.
    /// `features.0.weight  F32  [8, 3, 3, 3]`, followed by a line with the totals.
    public func formattedListing() -> String {
        let rows = listing
        let nameWidth = rows.map(\.name.count).max() ?? 0
        var lines: [String] = []
        for row in rows {
            let paddedName = row.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            let paddedType = row.dtype.safetensorsName.padding(toLength: 4, withPad: " ", startingAt: 0)
            lines.append("\(paddedName)  \(paddedType)  \(row.shape)")
        }
        let elementTotal = tensors.reduce(0) { $0 + $1.elementCount }
        let byteTotal = tensors.reduce(0) { $0 + $1.data.count }
        lines.append("\(rows.count) tensors, \(elementTotal) elements, \(byteTotal) bytes")
        return lines.joined(separator: "\n")
    }
}

/// One row of `TensorArchive.listing`.
public struct TensorListingEntry: Equatable, Sendable {
    /// The tensor's name.
    public let name: String
    /// The stored element type.
    public let dtype: DType
    /// The shape, outermost dimension first.
    public let shape: [Int]
    /// The size of the stored data in bytes.
    public let byteCount: Int

    /// Creates a listing row.
    public init(name: String, dtype: DType, shape: [Int], byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteCount = byteCount
    }
}
