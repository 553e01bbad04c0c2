import Foundation

/// Which half of a data set to read.
public enum Split: String, CaseIterable, Sendable {
    case train
    case test
}

/// An image width and height in pixels.
public struct ImageSize: Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "ImageSize needs positive width and height, got \(width) x \(height)")
        self.width = width
        self.height = height
    }

    /// A square size.
    public init(_ side: Int) {
        self.init(width: side, height: side)
    }

    /// `width x height`, e.g. `32x32`.
    public var description: String { "\(width)x\(height)" }
}

/// An 8-bit image stored planar, as `[C, H, W]` bytes (channel-major, then rows).
public struct Image: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// 1 (grayscale) or 3 (RGB).
    public var channelCount: Int
    /// `channelCount * height * width` bytes, channel planes one after another.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channelCount: Int, pixels: [UInt8]) {
        precondition(
            pixels.count == width * height * channelCount,
            "Image: pixels has \(pixels.count) bytes, \(channelCount) x \(height) x \(width) needs \(width * height * channelCount)")
        self.width = width
        self.height = height
        self.channelCount = channelCount
        self.pixels = pixels
    }

    /// Creates a planar image from interleaved `[H, W, C]` bytes.
    public init(interleaved source: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channelCount: Int) {
        precondition(
            source.count == width * height * channelCount,
            "Image: source has \(source.count) bytes, \(height) x \(width) x \(channelCount) needs \(width * height * channelCount)")
        let planeSize = width * height
        var planar = [UInt8](repeating: 0, count: source.count)
        for channel in 0..<channelCount {
            for position in 0..<planeSize {
                planar[channel * planeSize + position] = source[position * channelCount + channel]
            }
        }
        self.init(width: width, height: height, channelCount: channelCount, pixels: planar)
    }

    public var size: ImageSize { ImageSize(width: width, height: height) }

    /// The byte at a channel, row and column.
    public subscript(channel: Int, row: Int, column: Int) -> UInt8 {
        pixels[(channel * height + row) * width + column]
    }
}

/// A labelled image collection with random access, safe to read from several threads at once.
///
/// Samples decode to 8-bit planar images at their native size; `decodeSample(at:size:into:)`
/// turns one into floats in [0, 1] for a network input.
public protocol Dataset: AnyObject, Sendable {
    /// The number of samples.
    var count: Int { get }

    /// Class names in label order; `label(at:)` indexes this array.
    var classNames: [String] { get }

    /// Channels of every decoded image: 1 for MNIST-style grayscale sets, 3 otherwise.
    var channelCount: Int { get }

    /// The size shared by every image, or nil when sizes may differ (image folders).
    var uniformImageSize: ImageSize? { get }

    /// A short description of where the samples come from, for messages and reports.
    var origin: String { get }

    /// The class label of sample `index`, in `0..<classNames.count`.
    func label(at index: Int) -> Int

    /// Decodes sample `index` at its native size.
    /// - Throws: `DatasetError` when the underlying file cannot be read or decoded.
    func image(at index: Int) throws -> Image
}

extension Dataset {
    /// The number of classes.
    public var classCount: Int { classNames.count }

    /// Decodes sample `index` into `buffer` as `[C, H, W]` floats in [0, 1] and returns the
    /// native size. The image is resized with Pillow's bilinear filter to `size`, or kept at its
    /// native size when `size` is nil.
    ///
    /// - Throws: `DatasetError` when the sample cannot be decoded, or `.imageSizeMismatch` when
    ///   `buffer` does not hold exactly `channelCount * height * width` floats of the output.
    @discardableResult
    public func decodeSample(at index: Int, size: ImageSize?, into buffer: UnsafeMutableBufferPointer<Float>) throws
        -> ImageSize
    {
        precondition(index >= 0 && index < count, "decodeSample: index \(index) is outside 0..<\(count)")

        let native = try image(at: index)
        let resized = size.map { resizeBilinear(native, to: $0) } ?? native
        guard buffer.count == resized.pixels.count else {
            throw DatasetError.imageSizeMismatch(
                origin: origin, index: index,
                expected: "\(buffer.count) floats",
                actual: "\(resized.channelCount) x \(resized.height) x \(resized.width) = \(resized.pixels.count) values")
        }

        writeScaledPixels(of: resized, to: buffer.baseAddress!)
        return native.size
    }
}

/// Writes `image` as floats `byte / 255` in `[C, H, W]` order, as torchvision's `ToTensor` does.
func writeScaledPixels(of image: Image, to destination: UnsafeMutablePointer<Float>) {
    image.pixels.withUnsafeBufferPointer { source in
        for position in 0..<source.count {
            destination[position] = Float(source[position]) / 255
        }
    }
}
