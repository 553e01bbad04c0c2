import Checkpoints
import Foundation
import XCTest

/// Builds pickle bytes by hand, opcode by opcode.
private struct PickleBuilder {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ character: Character) {
        bytes.append(character.asciiValue!)
    }

    mutating func raw(_ values: [UInt8]) {
        bytes += values
    }

    mutating func global(_ module: String, _ name: String) {
        op("c")
        bytes += Array("\(module)\n\(name)\n".utf8)
    }

    /// SHORT_BINSTRING: a Python 2 `str`.
    mutating func shortBinstring(_ text: [UInt8]) {
        op("U")
        bytes.append(UInt8(text.count))
        bytes += text
    }

    mutating func binint1(_ value: UInt8) {
        op("K")
        bytes.append(value)
    }

    mutating func stop() {
        op(".")
    }
}

final class UnpicklerTests: XCTestCase {
    private func checkCIFARLike(_ value: PickleValue, _ label: String) throws {
        let batch = try XCTUnwrap(value.dictionary, label)
        XCTAssertEqual(batch.count, 9, label)
        XCTAssertEqual(batch[bytesKey: "batch_label"]?.bytes, Data("training batch 1 of 1".utf8), label)
        XCTAssertEqual(batch[bytesKey: "labels"]?.elements?.compactMap(\.integer), [6, 9, 9, 4], label)
        XCTAssertEqual(
            batch[bytesKey: "filenames"]?.elements?.compactMap(\.bytes), ["a.png", "b.png", "c.png", "d.png"].map { Data($0.utf8) },
            label)

        let data = try XCTUnwrap(batch[bytesKey: "data"]?.numpyArray, label)
        XCTAssertEqual(data.dtype, .u8, label)
        XCTAssertEqual(data.shape, [4, 12], label)
        XCTAssertEqual([UInt8](data.data), (0..<48).map { UInt8($0 * 5) }, label)

        let fortran = try XCTUnwrap(batch[bytesKey: "fortran"]?.numpyArray, label)
        XCTAssertEqual(fortran.dtype, .i16, label)
        XCTAssertEqual(fortran.shape, [2, 3], label)
        XCTAssertEqual(fortran.storedTensor(name: "fortran").integerValues(), [0, 1, 2, 3, 4, 5], label)

        let bigEndian = try XCTUnwrap(batch[bytesKey: "big_endian"]?.numpyArray, label)
        XCTAssertEqual(bigEndian.dtype, .f32, label)
        XCTAssertEqual(try bigEndian.storedTensor(name: "big_endian").floatTensor().scalars, [1.5, -2, 3.25], label)

        let wide = try XCTUnwrap(batch[bytesKey: "wide"]?.numpyArray, label)
        XCTAssertEqual(wide.dtype, .f64, label)
        XCTAssertEqual(wide.shape, [1, 2], label)
        XCTAssertEqual(doubleValues(wide.storedTensor(name: "wide")), [0.5, -1.25], label)

        guard case .float(let mean)? = batch[bytesKey: "mean"] else {
            return XCTFail("\(label): mean is \(String(describing: batch[bytesKey: "mean"]))")
        }
        XCTAssertEqual(mean, 0.5, label)
        XCTAssertEqual(batch[bytesKey: "count"]?.integer, 7, label)
    }

    func testCIFARLikeProtocol2() throws {
        let data = try Data(contentsOf: checkpointFixture("cifar_like_protocol2.pkl"))

        try checkCIFARLike(try unpickle(data), "protocol 2")
    }

    func testCIFARLikeProtocol4() throws {
        let data = try Data(contentsOf: checkpointFixture("cifar_like_protocol4.pkl"))

        try checkCIFARLike(try unpickle(data), "protocol 4")
    }

    func testCIFARLikeProtocol5() throws {
        let data = try Data(contentsOf: checkpointFixture("cifar_like_protocol5.pkl"))

        try checkCIFARLike(try unpickle(data), "protocol 5")
    }

    /// The original CIFAR-10 batches come from Python 2's cPickle: str keys and data as BINSTRING.
    func testPython2StyleBatch() throws {
        var pickle = PickleBuilder()
        pickle.op("}")
        pickle.op("(")
        pickle.shortBinstring(Array("data".utf8))
        pickle.global("numpy.core.multiarray", "_reconstruct")
        pickle.global("numpy", "ndarray")
        pickle.binint1(0)
        pickle.raw([0x85])
        pickle.shortBinstring(Array("b".utf8))
        pickle.raw([0x87])
        pickle.op("R")
        pickle.op("(")
        pickle.binint1(1)
        pickle.binint1(2)
        pickle.binint1(3)
        pickle.raw([0x86])
        pickle.global("numpy", "dtype")
        pickle.shortBinstring(Array("u1".utf8))
        pickle.binint1(0)
        pickle.binint1(1)
        pickle.raw([0x87])
        pickle.op("R")
        pickle.op("(")
        pickle.binint1(3)
        pickle.shortBinstring(Array("|".utf8))
        pickle.raw(Array("NNN".utf8))
        pickle.raw([UInt8(ascii: "J"), 0xFF, 0xFF, 0xFF, 0xFF, UInt8(ascii: "J"), 0xFF, 0xFF, 0xFF, 0xFF])
        pickle.binint1(0)
        pickle.op("t")
        pickle.op("b")
        pickle.raw([0x89])
        pickle.raw([UInt8(ascii: "T"), 6, 0, 0, 0, 10, 20, 30, 40, 50, 60])
        pickle.op("t")
        pickle.op("b")
        pickle.shortBinstring(Array("labels".utf8))
        pickle.op("]")
        pickle.op("(")
        pickle.binint1(3)
        pickle.binint1(1)
        pickle.op("e")
        pickle.op("u")
        pickle.stop()

        let batch = try XCTUnwrap(try unpickle(Data(pickle.bytes)).dictionary)

        let array = try XCTUnwrap(batch[bytesKey: "data"]?.numpyArray)
        XCTAssertEqual(array.dtype, .u8)
        XCTAssertEqual(array.shape, [2, 3])
        XCTAssertEqual([UInt8](array.data), [10, 20, 30, 40, 50, 60])
        XCTAssertEqual(batch[bytesKey: "labels"]?.elements?.compactMap(\.integer), [3, 1])
    }

    func testOSSystemIsRejected() throws {
        // pickle.dumps(os.system('ls')) at protocol 2, written out by hand: GLOBAL 'os system', 'ls', TUPLE1, REDUCE.
        let bytes: [UInt8] = [0x80, 0x02, 0x63] + Array("os\nsystem\n".utf8)
            + [0x71, 0x00, 0x58, 0x02, 0x00, 0x00, 0x00] + Array("ls".utf8) + [0x71, 0x01, 0x85, 0x71, 0x02, 0x52, 0x71, 0x03, 0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            XCTAssertEqual(error as? PickleError, .disallowedGlobal(name: "os.system", offset: 2))
            XCTAssertTrue("\(error)".contains("the pickle references the global 'os.system'"), "\(error)")
            XCTAssertTrue("\(error)".contains("not allowed in a state dict"), "\(error)")
        }
    }

    func testStackGlobalIsAlsoChecked() throws {
        // Protocol 4 form: SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'eval', STACK_GLOBAL.
        let bytes: [UInt8] = [0x80, 0x04, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93, 0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            XCTAssertEqual(error as? PickleError, .disallowedGlobal(name: "builtins.eval", offset: 18))
        }
    }

    func testOSSystemInsideCheckpointNamesFile() throws {
        let directory = try makeTemporaryDirectory(for: self)
        // A legacy checkpoint whose main pickle calls os.system.
        let magic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        let version: [UInt8] = [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]
        let systemInfo: [UInt8] = [0x80, 0x02, 0x7D, 0x2E]
        let payload: [UInt8] = [0x80, 0x02, 0x63] + Array("os\nsystem\n".utf8) + [0x58, 2, 0, 0, 0] + Array("ls".utf8) + [0x85, 0x52, 0x2E]
        let url = try writeFile(magic + version + systemInfo + payload, named: "hostile.pth", in: directory)

        let error = checkpointError { try loadTensorArchive(at: url) }

        // Offsets count from the start of the file: 15 + 6 + 4 bytes of earlier pickles, then PROTO.
        XCTAssertEqual(error, .invalidPickle(path: url.path, member: "object", error: .disallowedGlobal(name: "os.system", offset: 27)))
        XCTAssertTrue(error?.description.contains("'os.system'") ?? false)
    }

    func testDeepNestingIsRejected() throws {
        // NONE wrapped in 10,000 TUPLE1s: the stack stays one deep while the nesting grows.
        let bytes: [UInt8] = [0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: 10_000) + [0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            XCTAssertEqual(error as? PickleError, .nestingTooDeep(limit: 100, offset: 103))
        }
    }

    func testDeepListNestingIsRejected() throws {
        // Each step: EMPTY_LIST, BINGET 0, APPEND, BINPUT 0 wraps the previous list in a new one.
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x30]
        for _ in 0..<1000 {
            bytes += [0x5D, 0x68, 0x00, 0x61, 0x71, 0x00, 0x30]
        }
        bytes += [0x68, 0x00, 0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            guard case .nestingTooDeep(100, _)? = error as? PickleError else {
                return XCTFail("expected nestingTooDeep, got \(error)")
            }
        }
    }

    func testChangingContainedListIsRejected() throws {
        // A = [] (memo 0); B = [A]; POP B; APPEND None to A, which B already contains.
        let bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x5D, 0x68, 0x00, 0x61, 0x30, 0x4E, 0x61, 0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            guard case .malformed(let detail, 11)? = error as? PickleError else {
                return XCTFail("expected malformed at byte 11, got \(error)")
            }
            XCTAssertTrue(detail.contains("recursive structures are not supported"), detail)
        }
    }

    func testManyMarksAreRejected() throws {
        let bytes: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 5000) + [0x4E, 0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            XCTAssertEqual(error as? PickleError, .nestingTooDeep(limit: 100, offset: 102))
        }
    }

    func testMemoLimit() throws {
        var limits = UnpicklerLimits()
        limits.maximumMemoCount = 10
        // NONE, then MEMOIZE 11 times (each adds a new index).
        let bytes: [UInt8] = [0x80, 0x04, 0x4E] + [UInt8](repeating: 0x94, count: 11) + [0x2E]

        XCTAssertThrowsError(try Unpickler(limits: limits).load(from: Data(bytes))) { error in
            XCTAssertEqual(error as? PickleError, .memoTooLarge(limit: 10, offset: 13))
        }
    }

    func testHostileLengthDoesNotAllocate() throws {
        // BINBYTES8 announcing 2^40 bytes in a 20-byte pickle.
        let bytes: [UInt8] = [0x80, 0x04, 0x8E] + littleEndianBytes(1 << 40) + [0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            XCTAssertEqual(error as? PickleError, .truncated(offset: 2))
        }
    }

    func testAllocationLimitStopsAmplification() throws {
        // One 2 KiB bytes value appended to a list 100,000 times via BINGET: cheap input, many slots.
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x42] + [0x00, 0x08, 0x00, 0x00] + [UInt8](repeating: 7, count: 2048)
        bytes += [0x71, 0x01, 0x30]
        for _ in 0..<100_000 {
            bytes += [0x68, 0x01, 0x61]
        }
        bytes += [0x2E]
        var limits = UnpicklerLimits()
        limits.allocationBytesPerInputByte = 1

        XCTAssertThrowsError(try Unpickler(limits: limits).load(from: Data(bytes))) { error in
            guard case .allocationLimitExceeded(let limit, _)? = error as? PickleError else {
                return XCTFail("expected allocationLimitExceeded, got \(error)")
            }
            XCTAssertEqual(limit, 1 << 20)
        }
    }

    func testTruncatedPickle() throws {
        let data = try Data(contentsOf: checkpointFixture("cifar_like_protocol2.pkl"))
        for length in [0, 1, 2, 50, data.count / 2, data.count - 1] {
            XCTAssertThrowsError(try unpickle(data.prefix(length)), "length \(length)") { error in
                guard case .truncated? = error as? PickleError else {
                    return XCTFail("length \(length): expected truncated, got \(error)")
                }
            }
        }
    }

    func testUnknownAndProtocol0Opcodes() throws {
        XCTAssertThrowsError(try unpickle(Data([0x80, 0x02, 0xFF, 0x2E]))) { error in
            XCTAssertEqual(error as? PickleError, .unknownOpcode(opcode: 0xFF, offset: 2))
        }
        XCTAssertThrowsError(try unpickle(Data(Array("I42\n.".utf8)))) { error in
            XCTAssertEqual(error as? PickleError, .unsupportedOpcode(name: "INT", offset: 0))
        }
    }

    func testPersistentIDOutsideCheckpoint() throws {
        let bytes: [UInt8] = [0x80, 0x02, 0x4E, 0x51, 0x2E]

        XCTAssertThrowsError(try unpickle(Data(bytes))) { error in
            guard case .malformed(let detail, 3)? = error as? PickleError else {
                return XCTFail("expected malformed at byte 3, got \(error)")
            }
            XCTAssertTrue(detail.contains("persistent id"), detail)
        }
    }

    func testIntegersAndFloats() throws {
        // A protocol-2 tuple: BININT -5, BININT2 1000, LONG1 2^63 (9 bytes), LONG1 -1 stored as 9 bytes, BINFLOAT 1.5.
        var bytes: [UInt8] = [0x80, 0x02, 0x28]
        bytes += [0x4A, 0xFB, 0xFF, 0xFF, 0xFF]
        bytes += [0x4D, 0xE8, 0x03]
        bytes += [0x8A, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00]
        bytes += [0x8A, 0x09] + [UInt8](repeating: 0xFF, count: 9)
        bytes += [0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0]
        bytes += [0x74, 0x2E]

        let elements = try XCTUnwrap(try unpickle(Data(bytes)).elements)

        XCTAssertEqual(elements.count, 5)
        XCTAssertEqual(elements[0].integer, -5)
        XCTAssertEqual(elements[1].integer, 1000)
        guard case .largeInteger(let large) = elements[2] else {
            return XCTFail("2^63 should not fit in Int, got \(elements[2])")
        }
        XCTAssertEqual(large, [0, 0, 0, 0, 0, 0, 0, 0x80, 0x00])
        XCTAssertEqual(elements[3].integer, -1)
        guard case .float(let value) = elements[4] else {
            return XCTFail("expected a float, got \(elements[4])")
        }
        XCTAssertEqual(value, 1.5)
    }

    func testDictReplacesRepeatedKey() throws {
        // {'a': 1, 'a': 2} built with SETITEMS keeps one entry with the last value, as Python does.
        let bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x28, 0x58, 1, 0, 0, 0, 0x61, 0x4B, 1, 0x58, 1, 0, 0, 0, 0x61, 0x4B, 2, 0x75, 0x2E]

        let dictionary = try XCTUnwrap(try unpickle(Data(bytes)).dictionary)

        XCTAssertEqual(dictionary.count, 1)
        XCTAssertEqual(dictionary["a"]?.integer, 2)
    }
}
