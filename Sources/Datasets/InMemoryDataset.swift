import Foundation

/// Images of one size held in memory as `[N, C, H, W]` bytes, as the CIFAR and MNIST files
/// store them. Immutable after creation, so any number of threads may read it.
public final class InMemoryDataset: Dataset, @unchecked Sendable {
    public let classNames: [String]
    public let channelCount: Int
    public let origin: String
    public let count: Int

    /// The size of every image.
    public let imageSize: ImageSize

    /// `count * channelCount * height * width` bytes, one image after another.
    let pixels: [UInt8]
    let labels: [Int]

    /// Creates a data set from planar images stored back to back.
    ///
    /// `pixels` must hold `labels.count` images of `[channelCount, height, width]` bytes and every
    /// label must lie in `0..<classNames.count`; a mismatch is a programming error.
    public init(
        pixels: [UInt8], labels: [Int], imageSize: ImageSize, channelCount: Int, classNames: [String], origin: String
    ) {
        let imageBytes = channelCount * imageSize.height * imageSize.width
        precondition(
            pixels.count == labels.count * imageBytes,
            "InMemoryDataset: pixels has \(pixels.count) bytes, \(labels.count) images of \(imageBytes) bytes need \(labels.count * imageBytes)")
        precondition(
            labels.allSatisfy { $0 >= 0 && $0 < classNames.count },
            "InMemoryDataset: labels must lie in 0..<\(classNames.count)")
        self.pixels = pixels
        self.labels = labels
        self.imageSize = imageSize
        self.channelCount = channelCount
        self.classNames = classNames
        self.origin = origin
        self.count = labels.count
    }

    public var uniformImageSize: ImageSize? { imageSize }

    public func label(at index: Int) -> Int {
        precondition(index >= 0 && index < count, "label(at:): index \(index) is outside 0..<\(count)")
        return labels[index]
    }

    public func image(at index: Int) throws -> Image {
        precondition(index >= 0 && index < count, "image(at:): index \(index) is outside 0..<\(count)")
        let imageBytes = channelCount * imageSize.height * imageSize.width
        let start = index * imageBytes
        return Image(
            width: imageSize.width, height: imageSize.height, channelCount: channelCount,
            pixels: Array(pixels[start..<(start + imageBytes)]))
    }
}

/// Reads a whole file, turning Foundation's error into a `DatasetError` that names the file.
func readFile(_ url: URL) throws -> Data {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw DatasetError.fileMissing(path: url.path)
    }
    do {
        return try Data(contentsOf: url)
    } catch {
        throw DatasetError.unreadableFile(path: url.path, reason: error.localizedDescription)
    }
}

/// Names of the CIFAR-10 classes in label order, used when `batches.meta.txt` is absent.
let cifar10ClassNames = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]
