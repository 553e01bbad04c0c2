import Datasets
import Foundation

/// The train and test loaders of a run, built from its configuration.
struct TrainingData {
    let trainLoader: DataLoader
    let testLoader: DataLoader?
    let classCount: Int
    /// `[C, H, W]` of one transformed sample.
    let sampleShape: [Int]
    /// Where the data came from, for messages and reports.
    let origin: String
    /// Messages for the user about choices made (synthetic data, missing test split).
    let notices: [String]

    init(configuration: TrainingConfiguration) throws {
        var notices: [String] = []
        let path = configuration.data.map { URL(fileURLWithPath: $0) }
        let synthetic = SyntheticConfiguration(
            trainCount: configuration.syntheticTrainCount, testCount: configuration.syntheticTestCount,
            imageSize: ImageSize(32), seed: configuration.seed)
        if path == nil {
            notices.append("no --data given: using the built-in synthetic images (\(synthetic.trainCount) train, \(synthetic.testCount) test, 10 classes, 32x32)")
        }

        let train = try openDataset(at: path, split: .train, synthetic: synthetic)
        var test: Dataset?
        do {
            test = try openDataset(at: path, split: .test, synthetic: synthetic)
        } catch DatasetError.splitNotFound {
            notices.append("\(train.origin) has no test split: test loss and accuracy are not reported")
        }

        let size = configuration.imageSize.map { ImageSize($0) }
        if size == nil && train.uniformImageSize == nil {
            throw ConfigurationError("the images in \(train.origin) differ in size; choose one with --image-size")
        }
        let transform = ImageTransform(
            size: size, replicatesGrayscale: true,
            mean: configuration.normalize ? ImageTransform.cifar10Mean : nil,
            standardDeviation: configuration.normalize ? ImageTransform.cifar10StandardDeviation : nil)

        let trainConfiguration = LoaderConfiguration(
            batchSize: configuration.batchSize, shuffle: configuration.shuffle, seed: configuration.seed,
            dropLast: false, limit: configuration.limitTrain, transform: transform)
        trainLoader = try DataLoader(dataset: train, configuration: trainConfiguration)

        if let test, configuration.limitTest != 0 {
            let testConfiguration = LoaderConfiguration(
                batchSize: max(configuration.batchSize, 64), shuffle: false, seed: configuration.seed,
                dropLast: false, limit: configuration.limitTest, transform: transform)
            testLoader = try DataLoader(dataset: test, configuration: testConfiguration)
        } else {
            testLoader = nil
        }

        classCount = train.classCount
        sampleShape = trainLoader.sampleShape
        origin = train.origin
        self.notices = notices
    }
}
