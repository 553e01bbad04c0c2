import Foundation

/// The globals a pickle may name, by normalized `module.name`. Each is interpreted by
/// `PickleMachine.call` or kept as an inert `.global` value; nothing is ever imported or executed.
private let allowedGlobals: Set<String> = {
    var names: Set<String> = [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "_codecs.encode",
        "builtins.bytes",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy._core.numeric._frombuffer",
        "numpy.ndarray",
        "numpy.dtype",
    ]
    for dtype in DType.allCases {
        names.insert("torch.\(dtype.torchStorageName)")
        names.insert("torch.\(dtype.torchName)")
    }
    return names
}()

/// Maps module names that moved between versions to one spelling: Python 2's `__builtin__`,
/// and numpy 1's `numpy.core`, which numpy 2 renamed `numpy._core`.
private func normalizedModule(_ module: String) -> String {
    if module == "__builtin__" {
        return "builtins"
    }
    if module == "numpy.core" || module.hasPrefix("numpy.core.") {
        return "numpy._core" + module.dropFirst("numpy.core".count)
    }
    return module
}

extension PickleMachine {
    /// Resolves GLOBAL and STACK_GLOBAL against the allow-list.
    func resolveGlobal(module: String, name: String) throws -> PickleValue {
        let normalized = normalizedModule(module)
        guard allowedGlobals.contains("\(normalized).\(name)") else {
            throw PickleError.disallowedGlobal(name: "\(module).\(name)", offset: opcodeOffset)
        }
        return .global(module: normalized, name: name)
    }

    /// Interprets REDUCE and NEWOBJ: a call of an allow-listed global with a tuple of arguments.
    func call(_ callable: PickleValue, arguments argumentsItem: StackItem) throws -> (value: PickleValue, depth: Int) {
        guard case .global(let module, let name) = callable else {
            throw malformed("REDUCE needs a class or function, the stack has a \(callable.typeName)")
        }
        guard case .tuple(let arguments) = argumentsItem.value else {
            throw malformed("the arguments of \(module).\(name) are a \(argumentsItem.value.typeName), not a tuple")
        }
        let qualifiedName = "\(module).\(name)"

        switch qualifiedName {
        case "collections.OrderedDict":
            return (try makeOrderedDict(arguments), max(argumentsItem.depth, 1))
        case "torch._utils._rebuild_tensor_v2":
            return (try rebuildTensor(arguments), 1)
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = arguments.first, case .torchTensor = data else {
                throw malformed("\(qualifiedName) needs a tensor as its first argument")
            }
            return (data, 1)
        case "_codecs.encode":
            return (try encodeLatin1(arguments), 0)
        case "builtins.bytes":
            guard arguments.isEmpty else {
                throw malformed("bytes() is only supported without arguments")
            }
            return (.bytes(Data()), 0)
        case "numpy._core.multiarray._reconstruct":
            guard let first = arguments.first, case .global("numpy", "ndarray") = first else {
                throw malformed("_reconstruct is only supported for numpy.ndarray")
            }
            return (.numpyArray(NumpyArray()), 1)
        case "numpy.dtype":
            guard let code = arguments.first.flatMap(asciiText) else {
                throw malformed("numpy.dtype needs a type code string")
            }
            return (.numpyDType(NumpyDType(code: code)), 1)
        case "numpy._core.multiarray.scalar":
            return (try decodeNumpyScalar(arguments), 0)
        case "numpy._core.numeric._frombuffer":
            return (try numpyArrayFromBuffer(arguments), 1)
        default:
            throw malformed("\(qualifiedName) cannot be called")
        }
    }

    /// Interprets BUILD: sets the state of an object made by `call`.
    func build(_ target: PickleValue, state: PickleValue) throws {
        switch target {
        case .dictionary:
            // An OrderedDict's instance attributes, such as a state dict's `_metadata`; not needed here.
            return
        case .numpyArray(let array):
            try fillNumpyArray(array, state: state)
        case .numpyDType(let dtype):
            guard let fields = state.elements, fields.count >= 2, let order = asciiText(fields[1]), let character = order.first
            else {
                throw malformed("the state of a numpy dtype lacks its byte order")
            }
            dtype.byteOrder = character
        default:
            throw malformed("BUILD cannot set the state of a \(target.typeName)")
        }
    }

    // MARK: Calls

    /// Returns the text of a `str`, or of a Python 2 `str` that arrived as bytes (dtype codes, byte orders).
    private func asciiText(_ value: PickleValue) -> String? {
        switch value {
        case .string(let text):
            return text
        case .bytes(let data):
            return String(bytes: data, encoding: .ascii)
        default:
            return nil
        }
    }

    private func makeOrderedDict(_ arguments: [PickleValue]) throws -> PickleValue {
        let dictionary = PickleDictionary()
        if arguments.isEmpty {
            return .dictionary(dictionary)
        }
        guard arguments.count == 1, let pairs = arguments[0].elements else {
            throw malformed("OrderedDict needs no arguments or one list of pairs")
        }
        for pair in pairs {
            guard let elements = pair.elements, elements.count == 2, let key = PickleKey(elements[0]) else {
                throw malformed("OrderedDict needs (key, value) pairs with hashable keys")
            }
            markContained(elements[1])
            dictionary.setValue(elements[1], forKey: key)
        }
        return .dictionary(dictionary)
    }

    private func integers(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard let elements = value.elements else {
            throw malformed("\(what) is a \(value.typeName), not a tuple of integers")
        }
        return try elements.map { element in
            guard case .integer(let integer) = element else {
                throw malformed("\(what) contains a \(element.typeName), not an integer")
            }
            return integer
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private func rebuildTensor(_ arguments: [PickleValue]) throws -> PickleValue {
        guard arguments.count >= 4 else {
            throw malformed("_rebuild_tensor_v2 needs at least 4 arguments, got \(arguments.count)")
        }
        guard case .torchStorage(let storage) = arguments[0] else {
            throw malformed("_rebuild_tensor_v2 needs a storage, got a \(arguments[0].typeName)")
        }
        guard case .integer(let storageOffset) = arguments[1], storageOffset >= 0 else {
            throw malformed("_rebuild_tensor_v2 needs a non-negative storage offset")
        }
        let shape = try integers(arguments[2], "the tensor size")
        let strides = try integers(arguments[3], "the tensor stride")
        guard shape.count == strides.count else {
            throw malformed("the tensor size \(shape) and stride \(strides) differ in length")
        }
        guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw malformed("the tensor size \(shape) or stride \(strides) is negative")
        }
        return .torchTensor(TorchTensorReference(storage: storage, storageOffset: storageOffset, shape: shape, strides: strides))
    }

    /// `_codecs.encode(text, 'latin1')`, which Python 3 uses for bytes at protocol 2.
    private func encodeLatin1(_ arguments: [PickleValue]) throws -> PickleValue {
        guard arguments.count == 2, case .string(let text) = arguments[0], case .string(let encoding) = arguments[1] else {
            throw malformed("_codecs.encode needs a string and an encoding name")
        }
        guard ["latin1", "latin-1", "iso-8859-1", "iso8859-1"].contains(encoding.lowercased()) else {
            throw malformed("_codecs.encode with the encoding '\(encoding)' is not supported, only latin1")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard scalar.value <= 0xFF else {
                throw malformed("the character U+\(String(scalar.value, radix: 16)) is not in latin1")
            }
            bytes.append(UInt8(scalar.value))
        }
        try charge(bytes.count)
        return .bytes(Data(bytes))
    }

    private func supportedDType(_ dtype: NumpyDType) throws -> DType {
        guard let match = DType(numpyCode: dtype.code) else {
            throw malformed("the numpy dtype '\(dtype.code)' is not supported")
        }
        return match
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)`: a numpy scalar such as `np.float64(0.5)`.
    private func decodeNumpyScalar(_ arguments: [PickleValue]) throws -> PickleValue {
        guard arguments.count == 2, case .numpyDType(let numpyDType) = arguments[0], case .bytes(let raw) = arguments[1] else {
            throw malformed("numpy scalar needs a dtype and bytes")
        }
        let dtype = try supportedDType(numpyDType)
        guard raw.count == dtype.elementSize else {
            throw malformed("a numpy \(numpyDType.code) scalar has \(raw.count) bytes instead of \(dtype.elementSize)")
        }
        let littleEndian = try littleEndianBytes(raw, dtype: dtype, byteOrder: numpyDType.byteOrder)
        let stored = StoredTensor(name: "scalar", dtype: dtype, shape: [], data: littleEndian)
        if let integers = stored.integerValues() {
            return dtype == .bool ? .bool(integers[0] != 0) : .integer(Int(integers[0]))
        }
        if dtype == .f64 {
            return .float(Double(bitPattern: littleEndian.littleEndianUInt64(at: 0)))
        }
        let tensor = try stored.floatTensor()
        return .float(Double(tensor.scalars[0]))
    }

    /// `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`, numpy's protocol-5 array form.
    private func numpyArrayFromBuffer(_ arguments: [PickleValue]) throws -> PickleValue {
        guard arguments.count == 4, case .bytes(let raw) = arguments[0], case .numpyDType(let numpyDType) = arguments[1],
            case .string(let order) = arguments[3]
        else {
            throw malformed("_frombuffer needs a buffer, a dtype, a shape and an order")
        }
        let shape = try integers(arguments[2], "the array shape")
        let array = NumpyArray()
        try fill(array, shape: shape, dtype: numpyDType, fortranOrder: order == "F", raw: raw)
        return .numpyArray(array)
    }

    // MARK: numpy arrays

    /// BUILD of an array from `_reconstruct`: the state is `(version, shape, dtype, is_fortran, rawdata)`,
    /// or the same without the version in old pickles.
    private func fillNumpyArray(_ array: NumpyArray, state: PickleValue) throws {
        guard !array.isFilled else {
            throw malformed("BUILD sets the state of a numpy array twice")
        }
        guard var fields = state.elements, fields.count == 5 || fields.count == 4 else {
            throw malformed("the state of a numpy array is not a (version, shape, dtype, is_fortran, data) tuple")
        }
        if fields.count == 5 {
            fields.removeFirst()
        }
        let shape = try integers(fields[0], "the array shape")
        guard case .numpyDType(let numpyDType) = fields[1] else {
            throw malformed("the state of a numpy array has a \(fields[1].typeName) instead of a dtype")
        }
        guard let fortranFlag = fields[2].integer else {
            throw malformed("the state of a numpy array lacks its is_fortran flag")
        }
        let fortranOrder = fortranFlag != 0
        let raw: Data
        switch fields[3] {
        case .bytes(let data):
            raw = data
        case .string(let text):
            // Python 2 arrays loaded with encoding='latin1' carry their data as text of code points 0...255.
            guard case .bytes(let data) = try encodeLatin1([.string(text), .string("latin1")]) else {
                throw malformed("the array data cannot be decoded")
            }
            raw = data
        default:
            throw malformed("numpy arrays of dtype '\(numpyDType.code)' hold Python objects, which are not supported")
        }
        try fill(array, shape: shape, dtype: numpyDType, fortranOrder: fortranOrder, raw: raw)
    }

    private func fill(_ array: NumpyArray, shape: [Int], dtype numpyDType: NumpyDType, fortranOrder: Bool, raw: Data) throws {
        let dtype = try supportedDType(numpyDType)
        guard let count = StoredTensor.elementCount(of: shape),
            case (let byteCount, false) = count.multipliedReportingOverflow(by: dtype.elementSize)
        else {
            throw malformed("the array shape \(shape) is invalid")
        }
        guard raw.count == byteCount else {
            throw malformed("the array data has \(raw.count) bytes, but shape \(shape) of '\(numpyDType.code)' needs \(byteCount)")
        }
        var data = try littleEndianBytes(raw, dtype: dtype, byteOrder: numpyDType.byteOrder)
        if fortranOrder && shape.count > 1 {
            try charge(byteCount)
            let layout = StridedLayout(offset: 0, shape: shape, strides: StridedLayout.fortranStrides(of: shape))
            data = data.withUnsafeBytes { layout.gather(from: $0, elementSize: dtype.elementSize) }
        }
        array.dtype = dtype
        array.shape = shape
        array.data = data
        array.isFilled = true
    }

    /// Returns `raw` in little-endian order, byte-swapping a big-endian (`>`) array.
    private func littleEndianBytes(_ raw: Data, dtype: DType, byteOrder: Character) throws -> Data {
        guard byteOrder == ">" && dtype.elementSize > 1 else {
            return raw
        }
        try charge(raw.count)
        var swapped = Data(raw)
        let size = dtype.elementSize
        swapped.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            for start in stride(from: 0, to: buffer.count, by: size) {
                var low = start
                var high = start + size - 1
                while low < high {
                    buffer.swapAt(low, high)
                    low += 1
                    high -= 1
                }
            }
        }
        return swapped
    }
}
