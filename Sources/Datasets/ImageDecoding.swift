import CJPEG
import CPNG
import Foundation

/// Decodes a JPEG or PNG file to 8-bit RGB, choosing the decoder from the file's first bytes (as
/// Pillow does), not from its extension.
/// - Throws: `DatasetError.unreadableFile` when the file cannot be read, and
///   `DatasetError.unreadableImage` when it is not a valid JPEG or PNG.
public func decodeImageFile(_ url: URL) throws -> Image {
    let data = try readFile(url)
    return try decodeImage(data, path: url.path)
}

/// Decodes JPEG or PNG bytes to 8-bit RGB; `path` names the source in errors.
func decodeImage(_ data: Data, path: String) throws -> Image {
    let isJPEG = data.count >= 3 && data[data.startIndex] == 0xFF && data[data.startIndex + 1] == 0xD8
    let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    let isPNG = data.count >= 8 && data.prefix(8).elementsEqual(pngSignature)
    guard isJPEG || isPNG else {
        let found = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw DatasetError.unreadableImage(
            path: path, reason: "the file starts with bytes \(found), which is neither JPEG nor PNG (only these two are supported)")
    }

    var pixels: UnsafeMutablePointer<UInt8>?
    var width: Int32 = 0
    var height: Int32 = 0
    var message = [CChar](repeating: 0, count: 512)
    let status = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32 in
        let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
        if isJPEG {
            return gradscope_decode_jpeg(bytes, UInt(raw.count), &pixels, &width, &height, &message, message.count)
        }
        return gradscope_decode_png(bytes, raw.count, &pixels, &width, &height, &message, message.count)
    }
    guard status == 0, let pixels else {
        let format = isJPEG ? "JPEG" : "PNG"
        throw DatasetError.unreadableImage(path: path, reason: "invalid \(format) data: \(String(cString: message))")
    }
    defer { free(pixels) }

    let interleaved = UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height) * 3)
    return Image(interleaved: interleaved, width: Int(width), height: Int(height), channelCount: 3)
}
