import Datasets
import Foundation

/// Measures how many images per second the data loader delivers from an image folder (default
/// the CIFAR-10 JPEG folder) at 32x32 and 224x224, with shuffling and normalisation on.
///
/// Arguments: `[folder] [image count]`, default `../shared/data/cifar10-jpeg` and 10,000 images.
/// Prints one line per size.
func runLoaderBenchmark(arguments: [String]) {
    let folder = URL(fileURLWithPath: arguments.first ?? "../shared/data/cifar10-jpeg")
    let imageCount = arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000

    let dataset: Dataset
    do {
        dataset = try openDataset(at: folder, split: .train)
    } catch {
        print("loader benchmark: \(error)")
        return
    }

    for side in [32, 224] {
        let transform = ImageTransform(
            size: ImageSize(side), randomHorizontalFlip: true,
            mean: ImageTransform.cifar10Mean, standardDeviation: ImageTransform.cifar10StandardDeviation)
        let configuration = LoaderConfiguration(batchSize: 128, seed: 0, limit: imageCount, transform: transform)
        do {
            let loader = try DataLoader(dataset: dataset, configuration: configuration)
            let start = Date()
            let stream = loader.batches(epoch: 0)
            var delivered = 0
            while let batch = try stream.next() {
                delivered += batch.indices.count
            }
            let seconds = Date().timeIntervalSince(start)
            let rate = Double(delivered) / seconds
            print(String(format: "loader %dx%d: %d images in %.2f s, %.0f images/s (%d decoding threads)",
                         side, side, delivered, seconds, rate, configuration.decodingThreadCount))
        } catch {
            print("loader benchmark at \(side)x\(side): \(error)")
        }
    }
}
