import Foundation

/// A value decoded by `Unpickler`: Python's plain data plus the few library objects that state
/// dicts and data batches contain (tensors, storages, numpy arrays).
public enum PickleValue {
    case none
    case bool(Bool)
    case integer(Int)
    /// An integer wider than 64 bits, as little-endian two's complement bytes (pickle's LONG1/LONG4 payload).
    case largeInteger([UInt8])
    case float(Double)
    case string(String)
    case bytes(Data)
    case tuple([PickleValue])
    case list(PickleList)
    case dictionary(PickleDictionary)
    case numpyArray(NumpyArray)
    case numpyDType(NumpyDType)
    /// An allow-listed class or function that has not been called, such as `torch.FloatStorage`.
    case global(module: String, name: String)
    /// A storage named by a PyTorch persistent id.
    case torchStorage(TorchStorageReference)
    /// A tensor rebuilt by `torch._utils._rebuild_tensor_v2`: a strided view of a storage.
    case torchTensor(TorchTensorReference)

    /// The dictionary, or nil for other values.
    public var dictionary: PickleDictionary? {
        if case .dictionary(let dictionary) = self {
            return dictionary
        }
        return nil
    }

    /// The elements of a list or tuple, or nil for other values.
    public var elements: [PickleValue]? {
        switch self {
        case .list(let list):
            return list.elements
        case .tuple(let elements):
            return elements
        default:
            return nil
        }
    }

    /// The value of an integer or bool, or nil for other values.
    public var integer: Int? {
        switch self {
        case .integer(let value):
            return value
        case .bool(let value):
            return value ? 1 : 0
        default:
            return nil
        }
    }

    /// The text of a string, or nil for other values.
    public var string: String? {
        if case .string(let text) = self {
            return text
        }
        return nil
    }

    /// The contents of a bytes value, or nil for other values.
    public var bytes: Data? {
        if case .bytes(let data) = self {
            return data
        }
        return nil
    }

    /// The numpy array, or nil for other values.
    public var numpyArray: NumpyArray? {
        if case .numpyArray(let array) = self {
            return array
        }
        return nil
    }

    /// A short name of the value's Python type, for error messages.
    public var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .integer, .largeInteger: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dictionary: return "dict"
        case .numpyArray: return "numpy.ndarray"
        case .numpyDType: return "numpy.dtype"
        case .global(let module, let name): return "\(module).\(name)"
        case .torchStorage: return "torch storage"
        case .torchTensor: return "torch.Tensor"
        }
    }
}

/// A hashable dictionary key: the key types that state dicts and data batches use.
public enum PickleKey: Hashable, CustomStringConvertible {
    case none
    case integer(Int)
    case string(String)
    case bytes(Data)
    indirect case tuple([PickleKey])

    /// The key for a value, or nil when the value is not hashable in this model (lists, arrays).
    init?(_ value: PickleValue) {
        switch value {
        case .none:
            self = .none
        case .bool(let flag):
            // Python's True == 1 and False == 0 as dictionary keys.
            self = .integer(flag ? 1 : 0)
        case .integer(let integer):
            self = .integer(integer)
        case .string(let text):
            self = .string(text)
        case .bytes(let data):
            self = .bytes(data)
        case .tuple(let elements):
            var keys: [PickleKey] = []
            for element in elements {
                guard let key = PickleKey(element) else {
                    return nil
                }
                keys.append(key)
            }
            self = .tuple(keys)
        default:
            return nil
        }
    }

    /// The key as Python would print it, e.g. `'weight'`, `b'data'`, `3`.
    public var description: String {
        switch self {
        case .none:
            return "None"
        case .integer(let integer):
            return String(integer)
        case .string(let text):
            return "'\(text)'"
        case .bytes(let data):
            return "b'\(String(decoding: data, as: UTF8.self))'"
        case .tuple(let keys):
            return "(\(keys.map(\.description).joined(separator: ", ")))"
        }
    }
}

/// A Python list, a reference type because pickles fill lists after creating and memoizing them.
public final class PickleList {
    /// The elements in order.
    public internal(set) var elements: [PickleValue] = []

    /// The nesting depth of the list, counting itself.
    var depth = 1

    /// Whether the list is inside another container, after which the unpickler rejects changes to it.
    var isContained = false

    init() {}
}

/// A Python dict (or `collections.OrderedDict`) in insertion order.
///
/// A reference type because pickles fill dictionaries after creating and memoizing them.
public final class PickleDictionary {
    /// The entries in insertion order; assigning an existing key replaces its value in place, as in Python.
    public private(set) var entries: [(key: PickleKey, value: PickleValue)] = []

    private var indexByKey: [PickleKey: Int] = [:]

    /// The nesting depth of the dictionary, counting itself.
    var depth = 1

    /// Whether the dictionary is inside another container, after which the unpickler rejects changes to it.
    var isContained = false

    init() {}

    /// The value for a key, or nil.
    public subscript(key: PickleKey) -> PickleValue? {
        guard let index = indexByKey[key] else {
            return nil
        }
        return entries[index].value
    }

    /// The value for a `str` key, or nil.
    public subscript(key: String) -> PickleValue? {
        self[.string(key)]
    }

    /// The value for a `bytes` key given as UTF-8 text, e.g. `dictionary[bytesKey: "data"]` for `b'data'`, or nil.
    public subscript(bytesKey key: String) -> PickleValue? {
        self[.bytes(Data(key.utf8))]
    }

    /// The number of entries.
    public var count: Int {
        entries.count
    }

    func setValue(_ value: PickleValue, forKey key: PickleKey) {
        if let index = indexByKey[key] {
            entries[index].value = value
        } else {
            indexByKey[key] = entries.count
            entries.append((key, value))
        }
    }
}

/// A numpy array decoded from a pickle, converted to C (row-major) order and little-endian bytes.
public final class NumpyArray {
    /// The element type.
    public internal(set) var dtype: DType = .u8

    /// The shape, outermost dimension first.
    public internal(set) var shape: [Int] = []

    /// The raw elements, little-endian, row-major; `elementCount * dtype.elementSize` bytes.
    public internal(set) var data = Data()

    /// Whether the array's contents arrived; `_reconstruct` creates an empty array that BUILD fills.
    var isFilled = false

    init() {}

    /// The number of elements, the product of `shape`.
    public var elementCount: Int {
        data.count / dtype.elementSize
    }

    /// Wraps the array's bytes in a stored tensor with the given name.
    public func storedTensor(name: String) -> StoredTensor {
        StoredTensor(name: name, dtype: dtype, shape: shape, data: data)
    }
}

/// A numpy dtype decoded from a pickle, e.g. `u1` with byte order `|`.
public final class NumpyDType {
    /// The type code without byte order, e.g. `u1`, `f4`, `i8`.
    public let code: String

    /// The byte order from the dtype's state: `<` little, `>` big, `|` not applicable, `=` native.
    public internal(set) var byteOrder: Character = "="

    init(code: String) {
        self.code = code
    }
}

/// A storage that a PyTorch checkpoint's pickle names through a persistent id.
public struct TorchStorageReference {
    /// The storage's key: its file name under `data/` in a zip checkpoint, or its id in a legacy one.
    public let key: String

    /// The element type from the typed-storage class, e.g. `FloatStorage` → `.f32`.
    public let dtype: DType

    /// The device the storage was saved from, e.g. `cpu` or `cuda:0`.
    public let location: String

    /// The number of elements the pickle declares.
    public let elementCount: Int

    /// For a legacy view of a larger storage, the view's first element within the root storage.
    public let viewOffset: Int
}

/// A strided view of a storage, as `torch._utils._rebuild_tensor_v2` describes a tensor.
public struct TorchTensorReference {
    /// The storage the tensor reads.
    public let storage: TorchStorageReference

    /// The first element of the tensor within the storage, in elements.
    public let storageOffset: Int

    /// The size of each dimension.
    public let shape: [Int]

    /// The step between neighbours along each dimension, in elements.
    public let strides: [Int]
}
