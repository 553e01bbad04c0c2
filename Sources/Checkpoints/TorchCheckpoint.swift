import Foundation

/// The first pickle of a legacy `torch.save` file: the integer 0x1950a86a20f9469cfc6c, little-endian.
let legacyTorchMagicBytes: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

/// The serialization protocol version that legacy `torch.save` files record.
private let legacyTorchProtocolVersion = 1001

/// The deepest dict nesting that flattening follows.
private let maximumFlattenDepth = 100

/// Reads a `torch.save` zip checkpoint. Its `<archive>/data.pkl` contains the pickled object, whose
/// persistent ids `('storage', storage_type, key, location, numel)` name the raw little-endian
/// storages `<archive>/data/<key>`.
func readTorchZipCheckpoint(_ contents: Data, path: String) throws -> TensorArchive {
    let archive = try ZipArchive(contents: contents, path: path)
    let pickleMember = archive.members.first { member in
        let components = member.name.split(separator: "/", omittingEmptySubsequences: false)
        return components.count == 2 && components[1] == "data.pkl"
    }
    guard let pickleMember else {
        throw CheckpointError.invalidHeader(
            path: path, detail: "the zip archive has no '<archive>/data.pkl', so it is not a torch.save checkpoint")
    }
    let prefix = String(pickleMember.name.dropLast("data.pkl".count))

    if let byteOrderMember = archive.member(named: prefix + "byteorder") {
        let byteOrder = String(decoding: try archive.read(byteOrderMember, verifyChecksum: true), as: UTF8.self)
        guard byteOrder == "little" else {
            throw CheckpointError.invalidEntry(
                path: path, entry: byteOrderMember.name,
                detail: "the storages are '\(byteOrder)'-endian; only little-endian checkpoints are supported")
        }
    }

    let pickleData = try archive.read(pickleMember, verifyChecksum: true)
    var unpickler = Unpickler()
    unpickler.persistentLoad = { identifier in
        try zipStorageReference(identifier)
    }
    let root: PickleValue
    do {
        root = try unpickler.load(from: pickleData).value
    } catch let error as PickleError {
        throw CheckpointError.invalidPickle(path: path, member: pickleMember.name, error: error)
    }

    // NOTE: the CRC of stored (uncompressed) storages is not checked, so that loading does not read
    // every page of a large mapped file. Deflated storages are checked as they are inflated.
    var storageCache: [String: Data] = [:]
    let storageData: (TorchStorageReference) throws -> Data = { storage in
        if let cached = storageCache[storage.key] {
            return cached
        }
        let memberName = prefix + "data/" + storage.key
        guard let member = archive.member(named: memberName) else {
            throw CheckpointError.invalidEntry(
                path: path, entry: memberName, detail: "the storage named by the pickle is missing from the archive")
        }
        let data = try archive.read(member, verifyChecksum: false)
        storageCache[storage.key] = data
        return data
    }
    return try makeArchive(root: root, format: .torchZip, path: path, storageData: storageData)
}

/// Converts a zip checkpoint's persistent id to a storage reference.
private func zipStorageReference(_ identifier: PickleValue) throws -> PickleValue {
    guard let fields = identifier.elements, fields.count == 5, fields[0].string == "storage" else {
        throw PickleError.malformed(detail: "a persistent id is not ('storage', type, key, location, numel)", offset: 0)
    }
    let dtype = try storageDType(fields[1])
    guard let key = fields[2].string, let location = fields[3].string, case .integer(let count) = fields[4], count >= 0 else {
        throw PickleError.malformed(detail: "a persistent id has a malformed key, location or element count", offset: 0)
    }
    return .torchStorage(TorchStorageReference(key: key, dtype: dtype, location: location, elementCount: count, viewOffset: 0))
}

private func storageDType(_ storageType: PickleValue) throws -> DType {
    guard case .global("torch", let name) = storageType, let dtype = DType(torchStorageName: name) else {
        throw PickleError.malformed(detail: "a persistent id names \(storageType.typeName), not a torch storage type", offset: 0)
    }
    return dtype
}

/// Reads a legacy `torch.save(..., _use_new_zipfile_serialization=False)` file.
///
/// The file starts with pickles of the magic number, the protocol version (1001) and the system info.
/// The object's pickle follows, with persistent ids `('storage', type, root_key, location, numel, view_metadata)`.
/// Then comes the pickled list of storage keys, and finally each storage in that order, as an
/// 8-byte little-endian element count followed by the raw elements.
///
/// NOTE: the tar-based format of PyTorch before 0.1.10 is not supported.
func readTorchLegacyCheckpoint(_ contents: Data, path: String) throws -> TensorArchive {
    var offset = 0
    func loadPickle(_ unpickler: Unpickler, _ what: String) throws -> PickleValue {
        do {
            let (value, end) = try unpickler.load(from: contents, startingAt: offset)
            offset = end
            return value
        } catch let error as PickleError {
            throw CheckpointError.invalidPickle(path: path, member: what, error: error)
        }
    }

    let magic = try loadPickle(Unpickler(), "magic number")
    guard case .largeInteger(let magicBytes) = magic, magicBytes == legacyTorchMagicBytes else {
        throw CheckpointError.unrecognizedFormat(path: path)
    }
    let version = try loadPickle(Unpickler(), "protocol version")
    guard case .integer(legacyTorchProtocolVersion) = version else {
        throw CheckpointError.invalidHeader(
            path: path, detail: "the legacy protocol version is \(version.integer.map(String.init) ?? version.typeName), expected 1001")
    }
    let systemInfo = try loadPickle(Unpickler(), "system info")
    if let littleEndian = systemInfo.dictionary?["little_endian"], case .bool(false) = littleEndian {
        throw CheckpointError.invalidHeader(path: path, detail: "the checkpoint was saved big-endian, which is not supported")
    }

    // The element type of each storage key, from the persistent ids; the raw data that follows
    // the pickles does not record it.
    var storageTypes: [String: DType] = [:]
    var mainUnpickler = Unpickler()
    mainUnpickler.persistentLoad = { identifier in
        let reference = try legacyStorageReference(identifier)
        if let known = storageTypes[reference.key], known != reference.dtype {
            throw PickleError.malformed(detail: "the storage '\(reference.key)' is named with two element types", offset: 0)
        }
        storageTypes[reference.key] = reference.dtype
        return .torchStorage(reference)
    }
    let root = try loadPickle(mainUnpickler, "object")
    let keyList = try loadPickle(Unpickler(), "storage keys")
    guard let keyValues = keyList.elements else {
        throw CheckpointError.invalidHeader(path: path, detail: "the storage key list is a \(keyList.typeName), not a list")
    }

    var storageBytes: [String: Data] = [:]
    for keyValue in keyValues {
        guard let key = keyValue.string else {
            throw CheckpointError.invalidHeader(path: path, detail: "a storage key is a \(keyValue.typeName), not a string")
        }
        guard let dtype = storageTypes[key] else {
            throw CheckpointError.invalidEntry(
                path: path, entry: "storage \(key)", detail: "no tensor uses this storage, so its element type is unknown")
        }
        guard contents.count - offset >= 8 else {
            throw CheckpointError.truncated(path: path, detail: "the file ends before the size of storage '\(key)'")
        }
        let declared = contents.littleEndianUInt64(at: offset)
        offset += 8
        let available = UInt64(contents.count - offset)
        guard declared <= available / UInt64(dtype.elementSize) else {
            throw CheckpointError.truncated(
                path: path,
                detail: "storage '\(key)' declares \(declared) elements of \(dtype.elementSize) bytes, "
                    + "but only \(available) bytes remain")
        }
        let byteCount = Int(declared) * dtype.elementSize
        let start = contents.startIndex + offset
        storageBytes[key] = contents[start..<(start + byteCount)]
        offset += byteCount
    }

    let storageData: (TorchStorageReference) throws -> Data = { storage in
        guard let data = storageBytes[storage.key] else {
            throw CheckpointError.invalidEntry(
                path: path, entry: "storage \(storage.key)", detail: "the storage is missing from the file's storage list")
        }
        return data
    }
    return try makeArchive(root: root, format: .torchLegacy, path: path, storageData: storageData)
}

/// Converts a legacy checkpoint's persistent id to a storage reference; a view keeps its root's key and its offset.
private func legacyStorageReference(_ identifier: PickleValue) throws -> TorchStorageReference {
    guard let fields = identifier.elements, fields.count == 6, fields[0].string == "storage" else {
        throw PickleError.malformed(
            detail: "a persistent id is not ('storage', type, root_key, location, numel, view_metadata)", offset: 0)
    }
    let dtype = try storageDType(fields[1])
    guard let key = fields[2].string, let location = fields[3].string, case .integer(let count) = fields[4], count >= 0 else {
        throw PickleError.malformed(detail: "a persistent id has a malformed key, location or element count", offset: 0)
    }
    // NOTE: current PyTorch writes None here; no fixture covers view metadata, which older releases wrote.
    if case .none = fields[5] {
        return TorchStorageReference(key: key, dtype: dtype, location: location, elementCount: count, viewOffset: 0)
    }
    guard let view = fields[5].elements, view.count == 3, case .integer(let viewOffset) = view[1],
        case .integer(let viewCount) = view[2], viewOffset >= 0, viewCount >= 0
    else {
        throw PickleError.malformed(detail: "a persistent id has malformed view metadata", offset: 0)
    }
    return TorchStorageReference(key: key, dtype: dtype, location: location, elementCount: viewCount, viewOffset: viewOffset)
}

/// Flattens the unpickled object to named tensors and copies each out of its storage.
private func makeArchive(
    root: PickleValue, format: TensorArchiveFormat, path: String, storageData: (TorchStorageReference) throws -> Data
) throws -> TensorArchive {
    let references = try namedTensors(in: root, path: path)
    var tensors: [StoredTensor] = []
    for (name, reference) in references {
        tensors.append(try materialize(reference, name: name, path: path, storageData: storageData))
    }
    return try TensorArchive(tensors: tensors, metadata: [:], format: format, path: path)
}

/// Finds the tensors of a checkpoint's top-level object, which must be a dict.
///
/// Nested dicts flatten to dotted names (`{'encoder': {'weight': t}}` becomes `encoder.weight`).
/// A common wrapper such as `{'state_dict': {...}, 'epoch': 3, 'optimizer': {...}}` or
/// `{'model': {...}, ...}` is unwrapped: when exactly one of the keys `state_dict` and `model`
/// exists and maps to a dict that contains tensors, only that dict is read, under its own names.
/// Entries that are not tensors or dicts (version numbers, epochs, strings, lists) are skipped.
private func namedTensors(in root: PickleValue, path: String) throws -> [(String, TorchTensorReference)] {
    guard case .dictionary(let dictionary) = root else {
        throw CheckpointError.invalidHeader(
            path: path, detail: "the checkpoint's top-level object is a \(root.typeName), not a dict of tensors")
    }
    let wrapperKeys = ["state_dict", "model"].filter { dictionary[$0] != nil }
    if wrapperKeys.count == 1, case .dictionary(let inner)? = dictionary[wrapperKeys[0]] {
        var innerTensors: [(String, TorchTensorReference)] = []
        try flatten(inner, prefix: "", depth: 1, path: path, into: &innerTensors)
        if !innerTensors.isEmpty {
            return innerTensors
        }
    }
    var tensors: [(String, TorchTensorReference)] = []
    try flatten(dictionary, prefix: "", depth: 1, path: path, into: &tensors)
    return tensors
}

private func flatten(
    _ dictionary: PickleDictionary, prefix: String, depth: Int, path: String,
    into tensors: inout [(String, TorchTensorReference)]
) throws {
    guard depth <= maximumFlattenDepth else {
        throw CheckpointError.invalidEntry(
            path: path, entry: prefix, detail: "dicts nest deeper than \(maximumFlattenDepth) levels")
    }
    for (key, value) in dictionary.entries {
        let keyText: String
        switch key {
        case .string(let text):
            keyText = text
        case .integer(let integer):
            keyText = String(integer)
        case .bytes(let data):
            keyText = String(decoding: data, as: UTF8.self)
        default:
            keyText = key.description
        }
        let name = prefix.isEmpty ? keyText : prefix + "." + keyText
        switch value {
        case .torchTensor(let reference):
            tensors.append((name, reference))
        case .dictionary(let inner):
            try flatten(inner, prefix: name, depth: depth + 1, path: path, into: &tensors)
        default:
            continue
        }
    }
}

/// Copies one tensor out of its storage: a zero-copy slice when it is contiguous, otherwise a
/// gather of its strided elements into contiguous row-major order.
private func materialize(
    _ reference: TorchTensorReference, name: String, path: String, storageData: (TorchStorageReference) throws -> Data
) throws -> StoredTensor {
    let storage = reference.storage
    let elementSize = storage.dtype.elementSize
    let rootData = try storageData(storage)
    let rootCount = rootData.count / elementSize

    // A storage offers the elements it declares, as far as its bytes reach; a legacy view
    // declares `elementCount` elements from `viewOffset` of its root storage.
    let availableCount = max(0, min(storage.elementCount, rootCount - storage.viewOffset))
    let layout = StridedLayout(
        offset: storage.viewOffset + reference.storageOffset, shape: reference.shape, strides: reference.strides)
    guard let viewRequired = StridedLayout(offset: reference.storageOffset, shape: reference.shape, strides: reference.strides)
        .requiredStorageCount
    else {
        throw CheckpointError.invalidEntry(
            path: path, entry: name, detail: "the size \(reference.shape) and stride \(reference.strides) overflow")
    }
    guard viewRequired <= availableCount else {
        throw CheckpointError.storageTooShort(
            path: path, entry: name, requiredElements: viewRequired, availableElements: availableCount)
    }

    let count = layout.elementCount ?? 0
    let data: Data
    if count == 0 {
        data = Data()
    } else if layout.isContiguous {
        let start = rootData.startIndex + layout.offset * elementSize
        data = rootData[start..<(start + count * elementSize)]
    } else {
        data = rootData.withUnsafeBytes { layout.gather(from: $0, elementSize: elementSize) }
    }
    return StoredTensor(name: name, dtype: storage.dtype, shape: reference.shape, data: data)
}
