import CZlib
import Foundation

/// Readers for the IDX files of MNIST and Fashion-MNIST (`train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-*`), raw or gzip-compressed.
///
/// An IDX file starts with two zero bytes, a type byte (0x08 for unsigned bytes), the number of
/// dimensions, then each dimension as a big-endian 32-bit integer, then the data.
enum IDX {
    /// torchvision's `MNIST.classes`.
    static let mnistClassNames = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]

    /// torchvision's `FashionMNIST.classes`.
    static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// File name stems for a split: the images file, then the labels file.
    static func stems(for split: Split) -> (images: String, labels: String) {
        switch split {
        case .train:
            return ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
        case .test:
            return ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
        }
    }

    /// The file in `directory` for a stem, trying `stem`, `stem.gz` and the dotted spelling
    /// (`train-images.idx3-ubyte`) some mirrors use.
    static func locate(_ stem: String, in directory: URL) -> URL? {
        let dotted = stem.replacingOccurrences(of: "-idx", with: ".idx")
        for name in [stem, stem + ".gz", dotted, dotted + ".gz"] {
            let url = directory.appendingPathComponent(name)
            if fileExists(url) {
                return url
            }
        }
        return nil
    }

    /// Recognises an MNIST-style directory by the training or test images file.
    static func isIDXDirectory(_ directory: URL) -> Bool {
        locate(stems(for: .train).images, in: directory) != nil || locate(stems(for: .test).images, in: directory) != nil
    }

    /// Loads one split as a grayscale data set. Class names are Fashion-MNIST's when any component of
    /// the directory's path contains "fashion" (any case) and MNIST's digits otherwise.
    static func load(directory: URL, split: Split) throws -> InMemoryDataset {
        let stems = stems(for: split)
        guard let imagesURL = locate(stems.images, in: directory) else {
            throw DatasetError.fileMissing(path: directory.appendingPathComponent(stems.images).path + "[.gz]")
        }
        guard let labelsURL = locate(stems.labels, in: directory) else {
            throw DatasetError.fileMissing(path: directory.appendingPathComponent(stems.labels).path + "[.gz]")
        }

        let images = try readArray(imagesURL, expectedRank: 3)
        let labels = try readArray(labelsURL, expectedRank: 1)
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DatasetError.malformedFile(
                path: labelsURL.path,
                reason: "it holds \(labels.dimensions[0]) labels but \(imagesURL.lastPathComponent) holds \(images.dimensions[0]) images")
        }

        let isFashion = directory.pathComponents.contains { $0.lowercased().contains("fashion") }
        let classNames = isFashion ? fashionMNISTClassNames : mnistClassNames
        var labelValues: [Int] = []
        labelValues.reserveCapacity(labels.values.count)
        for (sample, byte) in labels.values.enumerated() {
            guard Int(byte) < classNames.count else {
                throw DatasetError.labelOutOfRange(path: labelsURL.path, sample: sample, label: Int(byte), classCount: classNames.count)
            }
            labelValues.append(Int(byte))
        }

        let name = isFashion ? "Fashion-MNIST" : "MNIST"
        return InMemoryDataset(
            pixels: images.values, labels: labelValues,
            imageSize: ImageSize(width: images.dimensions[2], height: images.dimensions[1]), channelCount: 1,
            classNames: classNames, origin: "\(name) \(split.rawValue) split in \(directory.path)")
    }

    /// Reads an unsigned-byte IDX array, checking its header against its size.
    static func readArray(_ url: URL, expectedRank: Int) throws -> (dimensions: [Int], values: [UInt8]) {
        let bytes = try readPossiblyCompressed(url)
        let headerBytes = 4 + 4 * expectedRank
        guard bytes.count >= headerBytes else {
            throw DatasetError.invalidFileSize(path: url.path, expected: "at least \(headerBytes) header bytes", actual: bytes.count)
        }
        guard bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08 && Int(bytes[3]) == expectedRank else {
            let found = bytes[0..<4].map { String(format: "%02x", $0) }.joined(separator: " ")
            throw DatasetError.malformedFile(
                path: url.path,
                reason: "the IDX header starts with \(found), expected 00 00 08 \(String(format: "%02x", expectedRank)) "
                    + "(unsigned bytes, \(expectedRank) dimensions)")
        }

        var dimensions: [Int] = []
        for axis in 0..<expectedRank {
            let offset = 4 + 4 * axis
            var value = 0
            for byte in bytes[offset..<(offset + 4)] {
                value = value << 8 | Int(byte)
            }
            dimensions.append(value)
        }
        let valueCount = dimensions.reduce(1, *)
        guard bytes.count == headerBytes + valueCount else {
            throw DatasetError.invalidFileSize(
                path: url.path,
                expected: "\(headerBytes + valueCount) (a \(headerBytes)-byte header and dimensions \(dimensions), uncompressed)",
                actual: bytes.count)
        }
        return (dimensions, Array(bytes[headerBytes...]))
    }

    /// Reads a file through zlib's gzip reader, which passes files that are not gzip through unchanged.
    static func readPossiblyCompressed(_ url: URL) throws -> [UInt8] {
        guard let file = gzopen(url.path, "rb") else {
            throw DatasetError.unreadableFile(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { gzclose(file) }

        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if read < 0 {
                throw DatasetError.malformedFile(path: url.path, reason: "gzip error: \(gzipErrorMessage(file))")
            }
            if read == 0 {
                break
            }
            result.append(contentsOf: chunk[0..<Int(read)])
        }

        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK {
            throw DatasetError.malformedFile(path: url.path, reason: "gzip error: \(gzipErrorMessage(file))")
        }
        return result
    }

    private static func gzipErrorMessage(_ file: gzFile) -> String {
        var code: Int32 = 0
        guard let message = gzerror(file, &code) else {
            return "unknown error"
        }
        return String(cString: message)
    }
}
