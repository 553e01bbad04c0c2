import Foundation
import Tensors

extension Image {
    /// The image mirrored left to right.
    public func flippedHorizontally() -> Image {
        var output = pixels
        for rowStart in stride(from: 0, to: pixels.count, by: width) {
            for column in 0..<width {
                output[rowStart + column] = pixels[rowStart + width - 1 - column]
            }
        }
        return Image(width: width, height: height, channelCount: channelCount, pixels: output)
    }

    /// The `size` window whose top-left corner is at (`top`, `left`) of this image padded with
    /// `padding` zero pixels on every side, like torchvision's `RandomCrop(size, padding)` with its
    /// default constant fill of 0.
    public func cropped(toSize size: ImageSize, top: Int, left: Int, padding: Int) -> Image {
        precondition(padding >= 0, "cropped: padding must be >= 0, got \(padding)")
        precondition(
            top >= 0 && top + size.height <= height + 2 * padding,
            "cropped: top \(top) + height \(size.height) exceeds padded height \(height + 2 * padding)")
        precondition(
            left >= 0 && left + size.width <= width + 2 * padding,
            "cropped: left \(left) + width \(size.width) exceeds padded width \(width + 2 * padding)")

        var output = [UInt8](repeating: 0, count: channelCount * size.height * size.width)
        for channel in 0..<channelCount {
            for row in 0..<size.height {
                let sourceRow = top + row - padding
                guard sourceRow >= 0 && sourceRow < height else {
                    continue
                }
                for column in 0..<size.width {
                    let sourceColumn = left + column - padding
                    guard sourceColumn >= 0 && sourceColumn < width else {
                        continue
                    }
                    output[(channel * size.height + row) * size.width + column] = self[channel, sourceRow, sourceColumn]
                }
            }
        }
        return Image(width: size.width, height: size.height, channelCount: channelCount, pixels: output)
    }
}

/// The per-sample preprocessing the loader applies, in torchvision's usual order:
/// `Resize(size)`, `RandomCrop(size, padding: cropPadding)`, `RandomHorizontalFlip()`,
/// grayscale replication, `ToTensor()`, `Normalize(mean, standardDeviation)`.
///
/// The first three steps work on 8-bit pixels, as they do on PIL images. Random choices come
/// from a generator the loader seeds per sample, so results do not depend on thread timing.
public struct ImageTransform: Sendable, Equatable {
    /// Output width and height; nil keeps the native size, which must then be the same for all images.
    public var size: ImageSize?
    /// Zero padding in pixels on each side before a random crop back to the same size; 0 disables the crop.
    public var cropPadding: Int
    /// Whether to mirror each image left to right with probability 1/2.
    public var randomHorizontalFlip: Bool
    /// Whether to copy a single grayscale channel into three, for models that expect RGB input.
    public var replicatesGrayscale: Bool
    /// Per-channel means subtracted after scaling to [0, 1]; nil skips normalisation.
    public var mean: [Float]?
    /// Per-channel standard deviations divided by after subtracting `mean`.
    public var standardDeviation: [Float]?

    public init(
        size: ImageSize? = nil, cropPadding: Int = 0, randomHorizontalFlip: Bool = false,
        replicatesGrayscale: Bool = false, mean: [Float]? = nil, standardDeviation: [Float]? = nil
    ) {
        precondition(cropPadding >= 0, "ImageTransform: cropPadding must be >= 0, got \(cropPadding)")
        precondition(
            (mean == nil) == (standardDeviation == nil),
            "ImageTransform: give both mean and standardDeviation or neither")
        precondition(mean?.count == standardDeviation?.count, "ImageTransform: mean and standardDeviation differ in length")
        precondition(
            standardDeviation?.allSatisfy { $0 > 0 } ?? true,
            "ImageTransform: standardDeviation values must be > 0, got \(standardDeviation ?? [])")
        self.size = size
        self.cropPadding = cropPadding
        self.randomHorizontalFlip = randomHorizontalFlip
        self.replicatesGrayscale = replicatesGrayscale
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// torchvision's usual CIFAR-10 per-channel mean.
    public static let cifar10Mean: [Float] = [0.4914, 0.4822, 0.4465]
    /// torchvision's usual CIFAR-10 per-channel standard deviation.
    public static let cifar10StandardDeviation: [Float] = [0.2470, 0.2435, 0.2616]

    /// The channel count of the output for input images with `inputChannels` channels.
    public func outputChannelCount(forInput inputChannels: Int) -> Int {
        replicatesGrayscale && inputChannels == 1 ? 3 : inputChannels
    }

    /// Runs the 8-bit steps: resize, random crop and random flip.
    public func applyGeometry(to image: Image, generator: inout RandomGenerator) -> Image {
        var result = image
        if let size {
            result = resizeBilinear(result, to: size)
        }

        if cropPadding > 0 {
            let top = uniformInteger(below: 2 * cropPadding + 1, generator: &generator)
            let left = uniformInteger(below: 2 * cropPadding + 1, generator: &generator)
            result = result.cropped(toSize: result.size, top: top, left: left, padding: cropPadding)
        }

        if randomHorizontalFlip && generator.nextUniform() < 0.5 {
            result = result.flippedHorizontally()
        }
        return result
    }

    /// Writes `image` as `[C, H, W]` floats: bytes / 255, grayscale replicated when requested, then
    /// `(x - mean) / standardDeviation` per channel. `destination` must hold
    /// `outputChannelCount(forInput:) * height * width` floats.
    public func writeTensorValues(of image: Image, to destination: UnsafeMutablePointer<Float>) {
        let channels = outputChannelCount(forInput: image.channelCount)
        if let mean {
            precondition(
                mean.count == channels || mean.count == 1,
                "ImageTransform: mean has \(mean.count) values, the image has \(channels) channels")
        }

        let planeSize = image.width * image.height
        image.pixels.withUnsafeBufferPointer { source in
            for channel in 0..<channels {
                let sourcePlane = image.channelCount == 1 ? 0 : channel * planeSize
                let outputPlane = destination + channel * planeSize
                let channelMean = mean.map { $0.count == 1 ? $0[0] : $0[channel] }
                let channelDeviation = standardDeviation.map { $0.count == 1 ? $0[0] : $0[channel] }
                for position in 0..<planeSize {
                    var value = Float(source[sourcePlane + position]) / 255
                    if let channelMean, let channelDeviation {
                        value = (value - channelMean) / channelDeviation
                    }
                    outputPlane[position] = value
                }
            }
        }
    }
}

/// An integer uniform on `0..<bound` from the generator's next 64 bits (multiply-shift; the bias
/// is below `bound / 2^64`).
func uniformInteger(below bound: Int, generator: inout RandomGenerator) -> Int {
    precondition(bound > 0, "uniformInteger: bound must be > 0, got \(bound)")
    return Int(generator.next().multipliedFullWidth(by: UInt64(bound)).high)
}

/// A 64-bit seed mixed from several values with SplitMix64's finaliser, so that nearby inputs
/// (epoch 1 and 2, sample 7 and 8) give unrelated streams.
func mixSeed(_ values: UInt64...) -> UInt64 {
    var state: UInt64 = 0x243F_6A88_85A3_08D3
    for value in values {
        state = (state ^ value) &+ 0x9E37_79B9_7F4A_7C15
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 31
    }
    return state
}
