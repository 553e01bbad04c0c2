import CZlib
import Foundation

/// A read-only zip archive over bytes in memory (often a memory-mapped file), read through its
/// central directory. Supports stored and deflated members and zip64 sizes and offsets; no
/// encryption and no multi-disk archives.
struct ZipArchive {
    /// One member from the central directory.
    struct Member {
        let name: String
        let compressionMethod: UInt16
        let crc32: UInt32
        let compressedSize: Int
        let uncompressedSize: Int
        let localHeaderOffset: Int
    }

    let contents: Data
    let path: String
    let members: [Member]
    private let indexByName: [String: Int]

    private static let endOfCentralDirectorySignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let centralHeaderSignature: UInt32 = 0x0201_4B50
    private static let localHeaderSignature: UInt32 = 0x0403_4B50

    /// Parses the central directory.
    /// - Throws: `CheckpointError.invalidHeader` for a malformed directory, `.duplicateName` for a repeated member name.
    init(contents: Data, path: String) throws {
        self.contents = contents
        self.path = path

        func invalid(_ detail: String) -> CheckpointError {
            .invalidHeader(path: path, detail: "invalid zip archive: \(detail)")
        }

        let endOffset = try ZipArchive.findEndOfCentralDirectory(in: contents, path: path)
        var entryCount = Int(contents.littleEndianUInt16(at: endOffset + 10))
        var directorySize = Int(contents.littleEndianUInt32(at: endOffset + 12))
        var directoryOffset = Int(contents.littleEndianUInt32(at: endOffset + 16))

        // A zip64 archive marks the classic fields with all-ones and keeps the real values in a
        // zip64 end record, which a locator just before the classic record points to.
        let locatorOffset = endOffset - 20
        if locatorOffset >= 0 && contents.littleEndianUInt32(at: locatorOffset) == ZipArchive.zip64LocatorSignature {
            let recordOffset64 = contents.littleEndianUInt64(at: locatorOffset + 8)
            guard recordOffset64 <= UInt64(contents.count - 56) else {
                throw invalid("the zip64 end record lies outside the file")
            }
            let recordOffset = Int(recordOffset64)
            guard contents.littleEndianUInt32(at: recordOffset) == ZipArchive.zip64EndSignature else {
                throw invalid("the zip64 end record has a wrong signature")
            }
            let count64 = contents.littleEndianUInt64(at: recordOffset + 32)
            let size64 = contents.littleEndianUInt64(at: recordOffset + 40)
            let offset64 = contents.littleEndianUInt64(at: recordOffset + 48)
            let limit = UInt64(contents.count)
            guard count64 <= limit, size64 <= limit, offset64 <= limit else {
                throw invalid("the zip64 end record contains impossible sizes")
            }
            entryCount = Int(count64)
            directorySize = Int(size64)
            directoryOffset = Int(offset64)
        }
        guard directoryOffset <= contents.count, directorySize <= contents.count - directoryOffset else {
            throw CheckpointError.truncated(path: path, detail: "the zip central directory lies past the end of the file")
        }

        var members: [Member] = []
        var indexByName: [String: Int] = [:]
        var cursor = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for _ in 0..<entryCount {
            guard cursor + 46 <= directoryEnd,
                contents.littleEndianUInt32(at: cursor) == ZipArchive.centralHeaderSignature
            else {
                throw invalid("central directory entry \(members.count) is malformed")
            }
            let member = try ZipArchive.parseCentralEntry(in: contents, at: cursor, directoryEnd: directoryEnd, path: path)
            guard indexByName.updateValue(members.count, forKey: member.entry.name) == nil else {
                throw CheckpointError.duplicateName(path: path, name: member.entry.name)
            }
            members.append(member.entry)
            cursor = member.next
        }
        self.members = members
        self.indexByName = indexByName
    }

    private static func findEndOfCentralDirectory(in contents: Data, path: String) throws -> Int {
        let minimumRecord = 22
        guard contents.count >= minimumRecord else {
            throw CheckpointError.truncated(path: path, detail: "the zip archive is shorter than its end record")
        }
        // The record is last in the file, followed only by a comment of at most 65535 bytes.
        let lowest = max(0, contents.count - minimumRecord - 0xFFFF)
        var offset = contents.count - minimumRecord
        while offset >= lowest {
            if contents.littleEndianUInt32(at: offset) == endOfCentralDirectorySignature {
                let commentLength = Int(contents.littleEndianUInt16(at: offset + 20))
                if offset + minimumRecord + commentLength == contents.count {
                    return offset
                }
            }
            offset -= 1
        }
        throw CheckpointError.truncated(path: path, detail: "the zip end-of-central-directory record is missing")
    }

    private static func parseCentralEntry(
        in contents: Data, at offset: Int, directoryEnd: Int, path: String
    ) throws -> (entry: Member, next: Int) {
        let flags = contents.littleEndianUInt16(at: offset + 8)
        let method = contents.littleEndianUInt16(at: offset + 10)
        let crc = contents.littleEndianUInt32(at: offset + 16)
        var compressedSize = UInt64(contents.littleEndianUInt32(at: offset + 20))
        var uncompressedSize = UInt64(contents.littleEndianUInt32(at: offset + 24))
        let nameLength = Int(contents.littleEndianUInt16(at: offset + 28))
        let extraLength = Int(contents.littleEndianUInt16(at: offset + 30))
        let commentLength = Int(contents.littleEndianUInt16(at: offset + 32))
        var localOffset = UInt64(contents.littleEndianUInt32(at: offset + 42))

        let nameStart = offset + 46
        let next = nameStart + nameLength + extraLength + commentLength
        guard next <= directoryEnd else {
            throw CheckpointError.invalidHeader(path: path, detail: "invalid zip archive: a central directory entry overruns the directory")
        }
        let nameStartIndex = contents.startIndex + nameStart
        let name = String(decoding: contents[nameStartIndex..<(nameStartIndex + nameLength)], as: UTF8.self)
        guard flags & 0x1 == 0 else {
            throw CheckpointError.corruptMember(path: path, member: name, detail: "the member is encrypted, which is not supported")
        }

        // The zip64 extra field (id 1) contains, in this order, each 32-bit field that is all-ones.
        var extraCursor = nameStart + nameLength
        let extraEnd = extraCursor + extraLength
        while extraCursor + 4 <= extraEnd {
            let fieldID = contents.littleEndianUInt16(at: extraCursor)
            let fieldSize = Int(contents.littleEndianUInt16(at: extraCursor + 2))
            let fieldStart = extraCursor + 4
            guard fieldStart + fieldSize <= extraEnd else {
                break
            }
            if fieldID == 0x0001 {
                var position = fieldStart
                func nextValue() -> UInt64? {
                    guard position + 8 <= fieldStart + fieldSize else {
                        return nil
                    }
                    defer {
                        position += 8
                    }
                    return contents.littleEndianUInt64(at: position)
                }
                if uncompressedSize == 0xFFFF_FFFF, let value = nextValue() {
                    uncompressedSize = value
                }
                if compressedSize == 0xFFFF_FFFF, let value = nextValue() {
                    compressedSize = value
                }
                if localOffset == 0xFFFF_FFFF, let value = nextValue() {
                    localOffset = value
                }
            }
            extraCursor = fieldStart + fieldSize
        }

        let limit = UInt64(Int.max)
        guard compressedSize < limit, uncompressedSize < limit, localOffset < limit else {
            throw CheckpointError.corruptMember(path: path, member: name, detail: "the member's sizes are impossible")
        }
        let member = Member(
            name: name, compressionMethod: method, crc32: crc, compressedSize: Int(compressedSize),
            uncompressedSize: Int(uncompressedSize), localHeaderOffset: Int(localOffset))
        return (member, next)
    }

    /// The member with a name, or nil.
    func member(named name: String) -> Member? {
        indexByName[name].map { members[$0] }
    }

    /// The contents of a member. Stored members are zero-copy slices of `contents`; deflated ones are inflated.
    ///
    /// The CRC-32 is checked for deflated members and, when `verifyChecksum` is set, for stored ones.
    /// - Throws: `CheckpointError.truncated` or `.corruptMember` naming the member.
    func read(_ member: Member, verifyChecksum: Bool) throws -> Data {
        let headerOffset = member.localHeaderOffset
        guard headerOffset <= contents.count - 30,
            contents.littleEndianUInt32(at: headerOffset) == ZipArchive.localHeaderSignature
        else {
            throw CheckpointError.corruptMember(path: path, member: member.name, detail: "the local header is missing")
        }
        // The local header's own name and extra lengths decide where the data starts; PyTorch pads
        // the extra field so that storages start on 64-byte boundaries.
        let nameLength = Int(contents.littleEndianUInt16(at: headerOffset + 26))
        let extraLength = Int(contents.littleEndianUInt16(at: headerOffset + 28))
        let dataOffset = headerOffset + 30 + nameLength + extraLength
        guard dataOffset <= contents.count, member.compressedSize <= contents.count - dataOffset else {
            throw CheckpointError.truncated(path: path, detail: "the zip member '\(member.name)' reaches past the end of the file")
        }
        let start = contents.startIndex + dataOffset
        let compressed = contents[start..<(start + member.compressedSize)]

        let data: Data
        switch member.compressionMethod {
        case 0:
            guard member.compressedSize == member.uncompressedSize else {
                throw CheckpointError.corruptMember(
                    path: path, member: member.name, detail: "a stored member's sizes differ (\(member.compressedSize) and \(member.uncompressedSize))")
            }
            data = compressed
            if !verifyChecksum {
                return data
            }
        case 8:
            data = try inflate(compressed, member: member)
        default:
            throw CheckpointError.corruptMember(
                path: path, member: member.name,
                detail: "compression method \(member.compressionMethod) is not supported (only stored and deflate)")
        }

        let checksum = crc32Checksum(of: data)
        guard checksum == member.crc32 else {
            throw CheckpointError.corruptMember(
                path: path, member: member.name,
                detail: "CRC-32 mismatch (stored 0x\(String(member.crc32, radix: 16)), computed 0x\(String(checksum, radix: 16)))")
        }
        return data
    }

    private func inflate(_ compressed: Data, member: Member) throws -> Data {
        let capacity = member.uncompressedSize
        // zlib rejects a null output pointer, so an empty member still gets a one-byte buffer.
        var output = Data(count: max(capacity, 1))
        var stream = z_stream()
        // Negative window bits select raw deflate, without a zlib header, as zip stores it.
        let initStatus = inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw CheckpointError.corruptMember(path: path, member: member.name, detail: "zlib initialization failed (\(initStatus))")
        }
        defer {
            inflateEnd(&stream)
        }

        let status: Int32 = compressed.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
            output.withUnsafeMutableBytes { (destination: UnsafeMutableRawBufferPointer) in
                var input = source.baseAddress?.assumingMemoryBound(to: Bytef.self)
                var remainingInput = source.count
                var outputPosition = 0
                var result = Z_OK
                // zlib counts in 32-bit units, so feed and drain in chunks of at most 1 GiB.
                let chunk = 1 << 30
                repeat {
                    stream.next_in = UnsafeMutablePointer(mutating: input)
                    stream.avail_in = uInt(min(remainingInput, chunk))
                    let availableInput = Int(stream.avail_in)
                    stream.next_out = destination.baseAddress.map {
                        ($0 + outputPosition).assumingMemoryBound(to: Bytef.self)
                    }
                    stream.avail_out = uInt(min(capacity - outputPosition, chunk))
                    let availableOutput = Int(stream.avail_out)
                    result = CZlib.inflate(&stream, Z_NO_FLUSH)
                    let consumed = availableInput - Int(stream.avail_in)
                    let produced = availableOutput - Int(stream.avail_out)
                    input = input.map { $0 + consumed }
                    remainingInput -= consumed
                    outputPosition += produced
                    if consumed == 0 && produced == 0 && result == Z_OK {
                        result = Z_BUF_ERROR
                    }
                } while result == Z_OK
                if result == Z_STREAM_END && outputPosition != capacity {
                    result = Z_DATA_ERROR
                }
                return result
            }
        }
        guard status == Z_STREAM_END else {
            throw CheckpointError.corruptMember(
                path: path, member: member.name,
                detail: "the deflate data is corrupt or does not inflate to \(capacity) bytes (zlib status \(status))")
        }
        return capacity == 0 ? Data() : output
    }
}

/// The CRC-32 of bytes, as zip stores it, computed by zlib in chunks that fit its 32-bit lengths.
func crc32Checksum(of data: Data) -> UInt32 {
    data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> UInt32 in
        var checksum = crc32(0, nil, 0)
        var offset = 0
        let chunk = 1 << 30
        while offset < buffer.count {
            let length = min(chunk, buffer.count - offset)
            checksum = crc32(checksum, buffer.baseAddress!.assumingMemoryBound(to: Bytef.self) + offset, uInt(length))
            offset += length
        }
        return UInt32(checksum)
    }
}
