import Foundation
import Tensors

/// Settings of the built-in synthetic image set.
public struct SyntheticConfiguration: Sendable, Equatable {
    /// Samples in the training split.
    public var trainCount: Int
    /// Samples in the test split.
    public var testCount: Int
    /// Width and height of every image.
    public var imageSize: ImageSize
    /// The seed every image is derived from.
    public var seed: UInt64

    public init(trainCount: Int = 2_000, testCount: Int = 500, imageSize: ImageSize = ImageSize(32), seed: UInt64 = 0) {
        precondition(trainCount >= 0, "SyntheticConfiguration: trainCount must be >= 0, got \(trainCount)")
        precondition(testCount >= 0, "SyntheticConfiguration: testCount must be >= 0, got \(testCount)")
        self.trainCount = trainCount
        self.testCount = testCount
        self.imageSize = imageSize
        self.seed = seed
    }
}

/// Ten classes of shapes and textures drawn in random colours at a random position and size,
/// with Gaussian noise (standard deviation 0.08 on the [0, 1] scale), so that a small network
/// can learn them in a few epochs.
///
/// Each image is drawn on demand from its own generator, seeded from the configuration's seed,
/// the split and the sample index, so the same settings always give the same images and train
/// and test never share one. Labels cycle through the classes: sample `i` has label `i % 10`.
public final class SyntheticDataset: Dataset, @unchecked Sendable {
    public static let syntheticClassNames = [
        "circle", "square", "triangle", "cross", "ring",
        "horizontal stripes", "vertical stripes", "diagonal stripes", "checkerboard", "diamond",
    ]

    public let configuration: SyntheticConfiguration
    public let split: Split
    public let count: Int
    public let channelCount = 3

    public init(configuration: SyntheticConfiguration = SyntheticConfiguration(), split: Split) {
        self.configuration = configuration
        self.split = split
        self.count = split == .train ? configuration.trainCount : configuration.testCount
    }

    public var classNames: [String] { SyntheticDataset.syntheticClassNames }

    public var uniformImageSize: ImageSize? { configuration.imageSize }

    public var origin: String {
        "synthetic \(split.rawValue) split (\(count) images of \(configuration.imageSize), seed \(configuration.seed))"
    }

    public func label(at index: Int) -> Int {
        precondition(index >= 0 && index < count, "label(at:): index \(index) is outside 0..<\(count)")
        return index % classNames.count
    }

    public func image(at index: Int) throws -> Image {
        precondition(index >= 0 && index < count, "image(at:): index \(index) is outside 0..<\(count)")
        let splitTag: UInt64 = split == .train ? 1 : 2
        var generator = RandomGenerator(seed: mixSeed(configuration.seed, splitTag, UInt64(index)))
        return drawShape(label(at: index), size: configuration.imageSize, generator: &generator)
    }
}

/// Draws one sample of class `label`. Coordinates are fractions of the image side, so every
/// resolution shows the same scene.
private func drawShape(_ label: Int, size: ImageSize, generator: inout RandomGenerator) -> Image {
    let background = (0..<3).map { _ in generator.nextUniform() }
    var foreground = background
    while zip(foreground, background).map({ abs($0 - $1) }).reduce(0, +) < 0.9 {
        foreground = (0..<3).map { _ in generator.nextUniform() }
    }

    let radius = 0.15 + 0.15 * generator.nextUniform()
    let centerX = radius + (1 - 2 * radius) * generator.nextUniform()
    let centerY = radius + (1 - 2 * radius) * generator.nextUniform()
    let stripeWidth = radius / 2

    let planeSize = size.width * size.height
    var pixels = [UInt8](repeating: 0, count: 3 * planeSize)
    for row in 0..<size.height {
        for column in 0..<size.width {
            let dx = (Float(column) + 0.5) / Float(size.width) - centerX
            let dy = (Float(row) + 0.5) / Float(size.height) - centerY
            let inside = isInside(label, dx: dx, dy: dy, radius: radius, stripeWidth: stripeWidth)
            for channel in 0..<3 {
                let base = inside ? foreground[channel] : background[channel]
                let value = base + 0.08 * Float(generator.nextNormal())
                let byte = (min(1, max(0, value)) * 255).rounded()
                pixels[channel * planeSize + row * size.width + column] = UInt8(byte)
            }
        }
    }
    return Image(width: size.width, height: size.height, channelCount: 3, pixels: pixels)
}

/// Whether the point (`dx`, `dy`) from the shape's centre is painted in the foreground colour.
private func isInside(_ label: Int, dx: Float, dy: Float, radius: Float, stripeWidth: Float) -> Bool {
    let distance = (dx * dx + dy * dy).squareRoot()
    let inSquare = abs(dx) < radius && abs(dy) < radius
    func band(_ coordinate: Float) -> Bool {
        Int(((coordinate + 2 * radius) / stripeWidth).rounded(.down)) % 2 == 0
    }

    switch label {
    case 0:
        return distance < radius
    case 1:
        return inSquare
    case 2:
        return dy > -radius && dy < radius && abs(dx) < (dy + radius) / 2
    case 3:
        let thickness = radius / 3
        return (abs(dx) < thickness && abs(dy) < radius) || (abs(dy) < thickness && abs(dx) < radius)
    case 4:
        return distance < radius && distance > 0.6 * radius
    case 5:
        return inSquare && band(dy)
    case 6:
        return inSquare && band(dx)
    case 7:
        return inSquare && band((dx + dy) / 1.4142135)
    case 8:
        return inSquare && (band(dx) != band(dy))
    default:
        return abs(dx) + abs(dy) < radius
    }
}
