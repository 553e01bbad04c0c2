import Foundation

/// A JSON value from a safetensors header. Objects keep their key order.
enum HeaderJSON {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)
    case null
}

/// A reason a safetensors header is not valid JSON, or repeats a key.
enum HeaderJSONError: Error {
    case invalid(offset: Int, detail: String)
    case duplicateKey(String)
}

/// A strict JSON parser (RFC 8259) for safetensors headers.
///
/// Foundation's `JSONSerialization` drops repeated keys and key order, and both matter here:
/// a repeated tensor name is an error, and the header's order is the archive's order.
struct HeaderJSONParser {
    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0
    private static let maximumDepth = 64

    /// Parses one JSON value that must fill `bytes`, except for trailing whitespace.
    static func parse(_ bytes: [UInt8]) throws -> HeaderJSON {
        var parser = HeaderJSONParser(bytes: bytes)
        let value = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw HeaderJSONError.invalid(offset: parser.position, detail: "unexpected text after the JSON value")
        }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) {
            position += 1
        }
    }

    private func fail(_ detail: String) -> HeaderJSONError {
        .invalid(offset: position, detail: detail)
    }

    private mutating func parseValue() throws -> HeaderJSON {
        skipWhitespace()
        guard position < bytes.count else {
            throw fail("unexpected end of the header")
        }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            return try parseObject()
        case UInt8(ascii: "["):
            return try parseArray()
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        default:
            return try parseNumber()
        }
    }

    private mutating func expectLiteral(_ literal: String) throws {
        let literalBytes = Array(literal.utf8)
        guard position + literalBytes.count <= bytes.count,
            Array(bytes[position..<(position + literalBytes.count)]) == literalBytes
        else {
            throw fail("invalid literal, expected '\(literal)'")
        }
        position += literalBytes.count
    }

    private mutating func enterContainer() throws {
        depth += 1
        guard depth <= HeaderJSONParser.maximumDepth else {
            throw fail("nesting deeper than \(HeaderJSONParser.maximumDepth) levels")
        }
    }

    private mutating func parseObject() throws -> HeaderJSON {
        try enterContainer()
        position += 1
        var members: [(key: String, value: HeaderJSON)] = []
        var keys = Set<String>()
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw fail("expected a string key")
            }
            let key = try parseString()
            guard keys.insert(key).inserted else {
                throw HeaderJSONError.duplicateKey(key)
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw fail("expected ':' after the key '\(key)'")
            }
            position += 1
            let value = try parseValue()
            members.append((key, value))
            skipWhitespace()
            guard position < bytes.count else {
                throw fail("unexpected end of the header inside an object")
            }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "}") else {
                throw fail("expected ',' or '}' in an object")
            }
            position += 1
            depth -= 1
            return .object(members)
        }
    }

    private mutating func parseArray() throws -> HeaderJSON {
        try enterContainer()
        position += 1
        var elements: [HeaderJSON] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else {
                throw fail("unexpected end of the header inside an array")
            }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "]") else {
                throw fail("expected ',' or ']' in an array")
            }
            position += 1
            depth -= 1
            return .array(elements)
        }
    }

    private mutating func parseString() throws -> String {
        position += 1
        var scalars = String.UnicodeScalarView()
        var pendingRun: [UInt8] = []

        func flushRun() throws {
            guard !pendingRun.isEmpty else {
                return
            }
            guard let text = String(validating: pendingRun, as: UTF8.self) else {
                throw fail("a string is not valid UTF-8")
            }
            scalars.append(contentsOf: text.unicodeScalars)
            pendingRun.removeAll(keepingCapacity: true)
        }

        while true {
            guard position < bytes.count else {
                throw fail("unterminated string")
            }
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: "\"") {
                try flushRun()
                return String(scalars)
            }
            if byte < 0x20 {
                throw fail("control character in a string")
            }
            if byte != UInt8(ascii: "\\") {
                pendingRun.append(byte)
                continue
            }
            try flushRun()
            guard position < bytes.count else {
                throw fail("unterminated escape sequence")
            }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                scalars.append(try parseUnicodeEscape())
            default:
                throw fail("invalid escape sequence")
            }
        }
    }

    private mutating func parseHexQuad() throws -> UInt32 {
        guard position + 4 <= bytes.count else {
            throw fail("truncated \\u escape")
        }
        guard let text = String(bytes: bytes[position..<(position + 4)], encoding: .ascii),
            let value = UInt32(text, radix: 16)
        else {
            throw fail("invalid \\u escape")
        }
        position += 4
        return value
    }

    private mutating func parseUnicodeEscape() throws -> Unicode.Scalar {
        let first = try parseHexQuad()
        if (0xD800..<0xDC00).contains(first) {
            guard position + 2 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
            else {
                throw fail("unpaired surrogate in a \\u escape")
            }
            position += 2
            let second = try parseHexQuad()
            guard (0xDC00..<0xE000).contains(second) else {
                throw fail("unpaired surrogate in a \\u escape")
            }
            let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            return Unicode.Scalar(combined)!
        }
        guard let scalar = Unicode.Scalar(first) else {
            throw fail("unpaired surrogate in a \\u escape")
        }
        return scalar
    }

    private mutating func parseNumber() throws -> HeaderJSON {
        let start = position
        if position < bytes.count && bytes[position] == UInt8(ascii: "-") {
            position += 1
        }
        var isInteger = true
        while position < bytes.count {
            let byte = bytes[position]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                position += 1
            } else if [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-")].contains(byte) {
                isInteger = false
                position += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard !text.isEmpty, text != "-" else {
            throw fail("invalid value")
        }
        if isInteger, let integer = Int(text) {
            return .integer(integer)
        }
        guard let number = Double(text) else {
            throw fail("invalid number '\(text)'")
        }
        return .number(number)
    }
}
