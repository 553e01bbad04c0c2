import Foundation

/// Bounds on the work a pickle may cause, so that a hostile file fails with an error instead of
/// exhausting memory or the call stack.
public struct UnpicklerLimits: Sendable {
    /// The deepest nesting of containers (tuples, lists, dicts) and of open MARKs.
    public var maximumDepth = 100

    /// The maximum number of memo entries.
    public var maximumMemoCount = 1 << 20

    /// With `minimumAllocationBytes`, bounds the bytes the decoder may allocate:
    /// `max(minimumAllocationBytes, allocationBytesPerInputByte * pickleSize)`. Strings and bytes
    /// count their length, and every stack slot and container element counts 32 bytes.
    public var allocationBytesPerInputByte = 64

    /// The allocation budget of small pickles.
    public var minimumAllocationBytes = 1 << 20

    /// The default limits, ample for state dicts and data batches.
    public init() {}
}

/// A pickle that cannot be decoded. `offset` is the byte position of the opcode involved.
public enum PickleError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The data ends inside an opcode or before STOP.
    case truncated(offset: Int)
    /// A byte that is not a pickle opcode.
    case unknownOpcode(opcode: UInt8, offset: Int)
    /// A valid opcode this decoder does not implement (protocol 0/1 text opcodes, sets, NEWOBJ_EX).
    case unsupportedOpcode(name: String, offset: Int)
    /// The pickle names a class or function outside the allow-list.
    case disallowedGlobal(name: String, offset: Int)
    /// The opcodes are inconsistent: stack underflow, missing MARK, unknown memo index, wrong argument types.
    case malformed(detail: String, offset: Int)
    /// Containers or MARKs nest deeper than the limit.
    case nestingTooDeep(limit: Int, offset: Int)
    /// More memo entries than the limit.
    case memoTooLarge(limit: Int, offset: Int)
    /// The decoded values would take more memory than the limit allows for this input size.
    case allocationLimitExceeded(limitBytes: Int, offset: Int)

    public var description: String {
        switch self {
        case .truncated(let offset):
            return "the pickle ends at byte \(offset) before its STOP opcode; the file is truncated"
        case .unknownOpcode(let opcode, let offset):
            return "byte \(offset) is 0x\(String(opcode, radix: 16)), which is not a pickle opcode; the data is corrupt"
        case .unsupportedOpcode(let name, let offset):
            return "the opcode \(name) at byte \(offset) is not supported; re-save the data with pickle protocol 2 or newer"
        case .disallowedGlobal(let name, let offset):
            return "the pickle references the global '\(name)' (byte \(offset)), which is not allowed in a state dict; "
                + "only tensors, storages, OrderedDict, numpy arrays and plain data can be loaded"
        case .malformed(let detail, let offset):
            return "invalid pickle at byte \(offset): \(detail)"
        case .nestingTooDeep(let limit, let offset):
            return "the pickle nests containers deeper than \(limit) levels (byte \(offset))"
        case .memoTooLarge(let limit, let offset):
            return "the pickle stores more than \(limit) memo entries (byte \(offset))"
        case .allocationLimitExceeded(let limit, let offset):
            return "decoding the pickle would allocate more than \(limit) bytes (byte \(offset)), "
                + "far more than its size justifies; the file is corrupt or hostile"
        }
    }

    public var errorDescription: String? {
        description
    }
}

/// A restricted pickle decoder for state dicts and data batches (protocols 2 to 5).
///
/// It never imports or calls anything: globals resolve only from an allow-list (`collections.OrderedDict`,
/// the PyTorch tensor rebuild functions and typed storages, `_codecs.encode`, and the numpy functions
/// that rebuild arrays, dtypes and scalars), and each allowed call is interpreted here. Any other
/// global fails with `PickleError.disallowedGlobal`. Python 2 strings (BINSTRING) decode as bytes,
/// as `pickle.load(..., encoding='bytes')` does.
public struct Unpickler {
    /// The bounds that guard against hostile input.
    public var limits: UnpicklerLimits

    /// Resolves a persistent id (BINPERSID); PyTorch checkpoints use these to name storages.
    var persistentLoad: ((PickleValue) throws -> PickleValue)?

    /// Creates a decoder with the given limits.
    public init(limits: UnpicklerLimits = UnpicklerLimits()) {
        self.limits = limits
    }

    /// Decodes the pickle that starts at `offset` (counted from `data.startIndex`).
    /// - Returns: the value and the offset just after its STOP opcode, where a following pickle starts.
    /// - Throws: `PickleError`, or what the persistent-id resolver throws.
    public func load(from data: Data, startingAt offset: Int = 0) throws -> (value: PickleValue, end: Int) {
        precondition(offset >= 0 && offset <= data.count, "offset \(offset) is outside 0...\(data.count)")
        let inputSize = data.count - offset
        let (budget, overflow) = inputSize.multipliedReportingOverflow(by: limits.allocationBytesPerInputByte)
        let allocationLimit = max(limits.minimumAllocationBytes, overflow ? Int.max : budget)

        return try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            let machine = PickleMachine(
                bytes: bytes, position: offset, limits: limits, allocationLimit: allocationLimit,
                persistentLoad: persistentLoad)
            return try machine.run()
        }
    }
}

/// Decodes one pickle, such as a CIFAR-10 python batch, with the default limits.
/// - Throws: `PickleError`.
public func unpickle(_ data: Data) throws -> PickleValue {
    try Unpickler().load(from: data).value
}

/// A value on the decoder's stack or in its memo, with the nesting depth it had when it was pushed.
struct StackItem {
    var value: PickleValue
    var depth: Int
}

/// The pickle virtual machine: a stack, a mark stack and a memo, driven by opcodes.
final class PickleMachine {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let limits: UnpicklerLimits
    let allocationLimit: Int
    let persistentLoad: ((PickleValue) throws -> PickleValue)?

    var stack: [StackItem] = []
    var marks: [Int] = []
    var memo: [Int: StackItem] = [:]
    var allocated = 0

    /// The offset of the opcode being executed, for error messages.
    var opcodeOffset = 0

    /// The cost charged for one stack slot or container element.
    static let slotCost = 32

    init(
        bytes: UnsafeRawBufferPointer, position: Int, limits: UnpicklerLimits, allocationLimit: Int,
        persistentLoad: ((PickleValue) throws -> PickleValue)?
    ) {
        self.bytes = bytes
        self.position = position
        self.limits = limits
        self.allocationLimit = allocationLimit
        self.persistentLoad = persistentLoad
    }

    // MARK: Errors and bookkeeping

    func malformed(_ detail: String) -> PickleError {
        .malformed(detail: detail, offset: opcodeOffset)
    }

    func charge(_ byteCount: Int) throws {
        allocated += byteCount
        guard allocated <= allocationLimit else {
            throw PickleError.allocationLimitExceeded(limitBytes: allocationLimit, offset: opcodeOffset)
        }
    }

    func checkDepth(_ depth: Int) throws {
        guard depth <= limits.maximumDepth else {
            throw PickleError.nestingTooDeep(limit: limits.maximumDepth, offset: opcodeOffset)
        }
    }

    /// Returns the nesting depth of an item. Lists and dictionaries track their own as they grow.
    func depth(of item: StackItem) -> Int {
        switch item.value {
        case .list(let list):
            return list.depth
        case .dictionary(let dictionary):
            return dictionary.depth
        default:
            return item.depth
        }
    }

    // MARK: Input

    func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw PickleError.truncated(offset: opcodeOffset)
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        position += count
        return slice
    }

    func readByte() throws -> UInt8 {
        guard position < bytes.count else {
            throw PickleError.truncated(offset: position)
        }
        let byte = bytes[position]
        position += 1
        return byte
    }

    func readUInt16() throws -> Int {
        let raw = try readBytes(2)
        return Int(UInt16(littleEndian: raw.loadUnaligned(as: UInt16.self)))
    }

    func readInt32() throws -> Int {
        let raw = try readBytes(4)
        return Int(Int32(littleEndian: raw.loadUnaligned(as: Int32.self)))
    }

    func readUInt32() throws -> Int {
        let raw = try readBytes(4)
        return Int(UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)))
    }

    func readLength64() throws -> Int {
        let raw = try readBytes(8)
        let length = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(bytes.count - position) else {
            throw PickleError.truncated(offset: opcodeOffset)
        }
        return Int(length)
    }

    /// Reads a newline-terminated ASCII line, as GLOBAL's module and name are stored.
    func readLine() throws -> String {
        let maximumLength = 1024
        var line: [UInt8] = []
        while true {
            let byte = try readByte()
            if byte == UInt8(ascii: "\n") {
                break
            }
            line.append(byte)
            guard line.count <= maximumLength else {
                throw malformed("a GLOBAL name is longer than \(maximumLength) bytes")
            }
        }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw malformed("a GLOBAL name is not valid UTF-8")
        }
        return text
    }

    func readUTF8(_ count: Int) throws -> String {
        let raw = try readBytes(count)
        try charge(count)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw malformed("a string is not valid UTF-8")
        }
        return text
    }

    func readData(_ count: Int) throws -> Data {
        let raw = try readBytes(count)
        try charge(count)
        return Data(raw)
    }

    // MARK: Stack

    func push(_ value: PickleValue, depth: Int = 0) throws {
        try charge(PickleMachine.slotCost)
        stack.append(StackItem(value: value, depth: depth))
    }

    func pop() throws -> StackItem {
        guard stack.count > (marks.last ?? 0) else {
            throw malformed("the stack is empty")
        }
        return stack.removeLast()
    }

    func top() throws -> StackItem {
        guard stack.count > (marks.last ?? 0) else {
            throw malformed("the stack is empty")
        }
        return stack[stack.count - 1]
    }

    func popToMark() throws -> [StackItem] {
        guard let mark = marks.popLast() else {
            throw malformed("an opcode needs a MARK, but none is open")
        }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    func pushTuple(_ items: [StackItem]) throws {
        let depth = 1 + (items.map { self.depth(of: $0) }.max() ?? 0)
        try checkDepth(depth)
        try charge(items.count * PickleMachine.slotCost)
        for item in items {
            markContained(item.value)
        }
        try push(.tuple(items.map(\.value)), depth: depth)
    }

    /// Seals a list or dictionary that was put inside another container.
    ///
    /// Python's pickler fills every list and dict before it becomes part of another container,
    /// except in self-referencing structures. Rejecting later changes keeps each container's
    /// recorded depth exact, so the depth limit also bounds the recursion of walking and freeing values.
    func markContained(_ value: PickleValue) {
        switch value {
        case .list(let list):
            list.isContained = true
        case .dictionary(let dictionary):
            dictionary.isContained = true
        default:
            break
        }
    }

    func memoize(_ index: Int) throws {
        let item = try top()
        if memo[index] == nil {
            guard memo.count < limits.maximumMemoCount else {
                throw PickleError.memoTooLarge(limit: limits.maximumMemoCount, offset: opcodeOffset)
            }
            try charge(PickleMachine.slotCost)
        }
        memo[index] = item
    }

    func recall(_ index: Int) throws {
        guard let item = memo[index] else {
            throw malformed("the memo has no entry \(index)")
        }
        try push(item.value, depth: item.depth)
    }

    // MARK: Containers

    func setItems(_ pairs: [(StackItem, StackItem)]) throws {
        let target = try top()
        guard case .dictionary(let dictionary) = target.value else {
            throw malformed("SETITEM needs a dict, the stack has a \(target.value.typeName)")
        }
        guard !dictionary.isContained else {
            throw malformed("a dict changes after it was put inside another container; recursive structures are not supported")
        }
        for (keyItem, valueItem) in pairs {
            guard let key = PickleKey(keyItem.value) else {
                throw malformed("a dict key of type \(keyItem.value.typeName) is not supported")
            }
            let depth = 1 + max(depth(of: keyItem), depth(of: valueItem))
            try checkDepth(depth)
            try charge(PickleMachine.slotCost)
            dictionary.depth = max(dictionary.depth, depth)
            markContained(valueItem.value)
            dictionary.setValue(valueItem.value, forKey: key)
        }
    }

    func appendItems(_ items: [StackItem]) throws {
        let target = try top()
        guard case .list(let list) = target.value else {
            throw malformed("APPEND needs a list, the stack has a \(target.value.typeName)")
        }
        guard !list.isContained else {
            throw malformed("a list changes after it was put inside another container; recursive structures are not supported")
        }
        for item in items {
            let depth = 1 + depth(of: item)
            try checkDepth(depth)
            try charge(PickleMachine.slotCost)
            list.depth = max(list.depth, depth)
            markContained(item.value)
            list.elements.append(item.value)
        }
    }

    // MARK: Main loop

    func run() throws -> (value: PickleValue, end: Int) {
        while true {
            opcodeOffset = position
            let opcode = try readByte()
            if opcode == UInt8(ascii: ".") {
                // Like Python's pickle, STOP returns the top value and ignores anything below it.
                marks.removeAll()
                let result = try pop()
                return (result.value, position)
            }
            try execute(opcode)
        }
    }

    func execute(_ opcode: UInt8) throws {
        switch opcode {
        case 0x80:  // PROTO
            let version = try readByte()
            guard version <= 5 else {
                throw malformed("pickle protocol \(version) is newer than 5, the newest this decoder reads")
            }
        case 0x95:  // FRAME: a length prefix for buffered reading; the content follows as ordinary opcodes.
            _ = try readLength64()
        case UInt8(ascii: "("):  // MARK
            try checkDepth(marks.count + 1)
            try charge(8)
            marks.append(stack.count)
        case UInt8(ascii: "}"):  // EMPTY_DICT
            try push(.dictionary(PickleDictionary()), depth: 1)
        case UInt8(ascii: "]"):  // EMPTY_LIST
            try push(.list(PickleList()), depth: 1)
        case UInt8(ascii: ")"):  // EMPTY_TUPLE
            try push(.tuple([]), depth: 1)
        case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
            let count = Int(opcode - 0x84)
            var items: [StackItem] = []
            for _ in 0..<count {
                items.insert(try pop(), at: 0)
            }
            try pushTuple(items)
        case UInt8(ascii: "t"):  // TUPLE
            try pushTuple(try popToMark())
        case UInt8(ascii: "s"):  // SETITEM
            let value = try pop()
            let key = try pop()
            try setItems([(key, value)])
        case UInt8(ascii: "u"):  // SETITEMS
            let items = try popToMark()
            guard items.count % 2 == 0 else {
                throw malformed("SETITEMS has an odd number (\(items.count)) of keys and values")
            }
            let pairs = stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
            try setItems(pairs)
        case UInt8(ascii: "a"):  // APPEND
            try appendItems([try pop()])
        case UInt8(ascii: "e"):  // APPENDS
            try appendItems(try popToMark())
        case UInt8(ascii: "J"):  // BININT
            try push(.integer(try readInt32()))
        case UInt8(ascii: "K"):  // BININT1
            try push(.integer(Int(try readByte())))
        case UInt8(ascii: "M"):  // BININT2
            try push(.integer(try readUInt16()))
        case 0x8A:  // LONG1
            try push(try decodeLong(byteCount: Int(try readByte())))
        case 0x8B:  // LONG4
            let byteCount = try readInt32()
            guard byteCount >= 0 else {
                throw malformed("LONG4 has a negative length \(byteCount)")
            }
            try push(try decodeLong(byteCount: byteCount))
        case UInt8(ascii: "G"):  // BINFLOAT, big-endian
            let raw = try readBytes(8)
            try push(.float(Double(bitPattern: UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)))))
        case UInt8(ascii: "X"):  // BINUNICODE
            try push(.string(try readUTF8(try readUInt32())))
        case 0x8D:  // BINUNICODE8
            try push(.string(try readUTF8(try readLength64())))
        case 0x8C:  // SHORT_BINUNICODE
            try push(.string(try readUTF8(Int(try readByte()))))
        case UInt8(ascii: "B"):  // BINBYTES
            try push(.bytes(try readData(try readUInt32())))
        case 0x8E, 0x96:  // BINBYTES8, BYTEARRAY8
            try push(.bytes(try readData(try readLength64())))
        case UInt8(ascii: "C"):  // SHORT_BINBYTES
            try push(.bytes(try readData(Int(try readByte()))))
        case UInt8(ascii: "T"):  // BINSTRING (Python 2 str): decoded as bytes
            let length = try readInt32()
            guard length >= 0 else {
                throw malformed("BINSTRING has a negative length \(length)")
            }
            try push(.bytes(try readData(length)))
        case UInt8(ascii: "U"):  // SHORT_BINSTRING
            try push(.bytes(try readData(Int(try readByte()))))
        case UInt8(ascii: "N"):  // NONE
            try push(.none)
        case 0x88:  // NEWTRUE
            try push(.bool(true))
        case 0x89:  // NEWFALSE
            try push(.bool(false))
        case UInt8(ascii: "c"):  // GLOBAL
            let module = try readLine()
            let name = try readLine()
            try push(try resolveGlobal(module: module, name: name))
        case 0x93:  // STACK_GLOBAL
            let name = try pop()
            let module = try pop()
            guard case .string(let moduleText) = module.value, case .string(let nameText) = name.value else {
                throw malformed("STACK_GLOBAL needs two strings")
            }
            try push(try resolveGlobal(module: moduleText, name: nameText))
        case UInt8(ascii: "R"), 0x81:  // REDUCE, NEWOBJ
            let arguments = try pop()
            let callable = try pop()
            let result = try call(callable.value, arguments: arguments)
            try checkDepth(result.depth)
            try push(result.value, depth: result.depth)
        case UInt8(ascii: "b"):  // BUILD
            let state = try pop()
            let target = try top()
            try build(target.value, state: state.value)
        case UInt8(ascii: "q"):  // BINPUT
            try memoize(Int(try readByte()))
        case UInt8(ascii: "r"):  // LONG_BINPUT
            try memoize(try readUInt32())
        case 0x94:  // MEMOIZE
            try memoize(memo.count)
        case UInt8(ascii: "h"):  // BINGET
            try recall(Int(try readByte()))
        case UInt8(ascii: "j"):  // LONG_BINGET
            try recall(try readUInt32())
        case UInt8(ascii: "Q"):  // BINPERSID
            let identifier = try pop()
            guard let persistentLoad else {
                throw malformed("the pickle uses a persistent id, which only PyTorch checkpoints may contain")
            }
            try push(try persistentLoad(identifier.value), depth: identifier.depth)
        case UInt8(ascii: "0"):  // POP: removes the top value, or the innermost MARK when it is on top
            if let mark = marks.last, mark == stack.count {
                marks.removeLast()
            } else {
                _ = try pop()
            }
        case UInt8(ascii: "1"):  // POP_MARK
            _ = try popToMark()
        case UInt8(ascii: "2"):  // DUP
            let item = try top()
            try push(item.value, depth: item.depth)
        default:
            if let name = PickleMachine.unsupportedOpcodeNames[opcode] {
                throw PickleError.unsupportedOpcode(name: name, offset: opcodeOffset)
            }
            throw PickleError.unknownOpcode(opcode: opcode, offset: opcodeOffset)
        }
    }

    /// Opcodes of the pickle format that this decoder rejects by name.
    static let unsupportedOpcodeNames: [UInt8: String] = [
        UInt8(ascii: "I"): "INT", UInt8(ascii: "L"): "LONG", UInt8(ascii: "S"): "STRING",
        UInt8(ascii: "V"): "UNICODE", UInt8(ascii: "F"): "FLOAT", UInt8(ascii: "p"): "PUT",
        UInt8(ascii: "g"): "GET", UInt8(ascii: "P"): "PERSID", UInt8(ascii: "i"): "INST",
        UInt8(ascii: "o"): "OBJ", UInt8(ascii: "d"): "DICT", UInt8(ascii: "l"): "LIST",
        0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS",
        0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]

    /// Decodes a little-endian two's complement integer of `byteCount` bytes (LONG1, LONG4).
    func decodeLong(byteCount: Int) throws -> PickleValue {
        let raw = try readBytes(byteCount)
        try charge(byteCount)
        guard byteCount > 0 else {
            return .integer(0)
        }
        var significant = Array(raw)
        // Drop redundant sign-extension bytes so that small values stored wide still fit in Int.
        while significant.count > 8 {
            let last = significant[significant.count - 1]
            let previousSignBit = significant[significant.count - 2] & 0x80
            guard (last == 0 && previousSignBit == 0) || (last == 0xFF && previousSignBit != 0) else {
                break
            }
            significant.removeLast()
        }
        guard significant.count <= 8 else {
            return .largeInteger(Array(raw))
        }
        let negative = significant[significant.count - 1] & 0x80 != 0
        var value: UInt64 = negative ? UInt64.max : 0
        for (index, byte) in significant.enumerated() {
            value &= ~(UInt64(0xFF) << (8 * UInt64(index)))
            value |= UInt64(byte) << (8 * UInt64(index))
        }
        return .integer(Int(Int64(bitPattern: value)))
    }
}
