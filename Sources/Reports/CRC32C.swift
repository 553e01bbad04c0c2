/// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and final XOR
/// 0xFFFFFFFF. `crc32c(Array("123456789".utf8))` is 0xE3069283.
public func crc32c<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        let index = Int((crc ^ UInt32(byte)) & 0xFF)
        crc = crc32cTable[index] ^ (crc >> 8)
    }
    return crc ^ 0xFFFF_FFFF
}

/// Computes the CRC-32C of `bytes` masked as TFRecord framing stores it. The CRC is rotated
/// right by 15 bits and offset by 0xA282EAD8, so that a CRC of data containing CRCs stays
/// well mixed.
public func maskedCRC32C<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    let crc = crc32c(bytes)
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
}

/// Entry `i` is the CRC of the single byte `i`, one step of the bitwise algorithm per bit.
private let crc32cTable: [UInt32] = (0..<256).map { index in
    var crc = UInt32(index)
    for _ in 0..<8 {
        if crc & 1 == 1 {
            crc = (crc >> 1) ^ 0x82F6_3B78
        } else {
            crc >>= 1
        }
    }
    return crc
}
