import Datasets
import Foundation

/// The train and test loaders of a run, built from its configuration.
struct TrainingData {
    let trainLoader: DataLoader
    let testLoader: DataLoader?
    let classCount: Int
    /// `[C, H, W]` of one transformed sample.
    let sampleShape: [Int]
    /// The origin of the data, for messages and reports.
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
            // The counts are those the run uses, after --limit-train and --limit-test.
            let trainCount = min(synthetic.trainCount, configuration.limitTrain ?? .max)
            let testCount = min(synthetic.testCount, configuration.limitTest ?? .max)
            notices.append("no --data given: using the built-in synthetic images (\(trainCount) train, \(testCount) test, 10 classes, 32x32)")
        }

        let train = try openDataset(at: path, split: .train, synthetic: synthetic)
        var test: Dataset?
        do {
            test = try openDataset(at: path, split: .test, synthetic: synthetic)
        } catch DatasetError.splitNotFound {
            notices.append("\(train.origin) has no test split: test loss and accuracy are not reported")
        }

        let size = configuration.imageSize.map { ImageSize($0) }
        let transform = ImageTransform(
            size: size, replicatesGrayscale: true,
            mean: configuration.normalize ? ImageTransform.cifar10Mean : nil,
            standardDeviation: configuration.normalize ? ImageTransform.cifar10StandardDeviation : nil)

        let trainConfiguration = LoaderConfiguration(
            batchSize: configuration.batchSize, shuffle: configuration.shuffle, seed: configuration.seed,
            dropLast: false, limit: configuration.limitTrain, transform: transform)
        var spread = trainConfiguration
        spread.limitSpreadsOverClasses = TrainingData.limitMissesClasses(train, limit: configuration.limitTrain)
        if spread.limitSpreadsOverClasses {
            notices.append("the first \(configuration.limitTrain!) training images of \(train.origin) miss some classes (it is sorted by class), so the \(configuration.limitTrain!) images are taken from every class in turn")
        }
        trainLoader = try DataLoader(dataset: train, configuration: spread)
        if size == nil && train.uniformImageSize == nil {
            // The loader takes the first image's size for all of them, and an image of another
            // size stops it with an error naming that file.
            let shape = trainLoader.sampleShape
            notices.append("\(train.origin): using the first image's size, \(shape[2])x\(shape[1]), for every image; --image-size resizes them all")
        }

        if let test, configuration.limitTest != 0 {
            let testConfiguration = LoaderConfiguration(
                batchSize: max(configuration.batchSize, 64), shuffle: false, seed: configuration.seed,
                dropLast: false, limit: configuration.limitTest, transform: transform)
            var spreadTest = testConfiguration
            spreadTest.limitSpreadsOverClasses = TrainingData.limitMissesClasses(test, limit: configuration.limitTest)
            testLoader = try DataLoader(dataset: test, configuration: spreadTest)
        } else {
            testLoader = nil
        }

        classCount = train.classCount
        sampleShape = trainLoader.sampleShape
        origin = train.origin
        self.notices = notices
    }

    /// Whether the first `limit` samples lack a class that the whole data set has.
    static func limitMissesClasses(_ dataset: Dataset, limit: Int?) -> Bool {
        guard let limit, limit < dataset.count else {
            return false
        }
        let present = Set((0..<limit).map { dataset.label(at: $0) })
        let classes = Set((0..<dataset.count).map { dataset.label(at: $0) })
        return present.count < classes.count
    }
}
