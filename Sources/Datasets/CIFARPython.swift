import Checkpoints
import Foundation

/// Readers for the pickled ("Python version") downloads of CIFAR-10 (`cifar-10-batches-py`) and
/// CIFAR-100 (`cifar-100-python`).
///
/// Each batch file is a pickled dict. Its `data` entry is a numpy uint8 array `[N, 3072]` whose rows
/// use the binary records' pixel order: the 1,024 red values of the 32x32 image row by row, then
/// green, then blue. Labels are a list of ints under `labels` (CIFAR-10) or `fine_labels`
/// (CIFAR-100). The official files are Python 2 pickles with bytes keys; the same dicts re-pickled
/// by Python 3 have str keys. Both are read, through the restricted unpickler of `Checkpoints`.
enum CIFARPython {
    /// The length of one row of `data`: 3 channels of 32x32 bytes.
    static let imageBytes = CIFARBinary.imageBytes

    /// Recognises a pickled CIFAR-10 directory by its batch files.
    static func isCIFAR10(_ directory: URL) -> Bool {
        fileExists(directory.appendingPathComponent("data_batch_1"))
            || fileExists(directory.appendingPathComponent("test_batch"))
    }

    /// Recognises a pickled CIFAR-100 directory by its `train` or `test` file.
    ///
    /// Only regular files count, so the `train/` and `test/` folders of an image-folder layout do not match.
    static func isCIFAR100(_ directory: URL) -> Bool {
        fileExists(directory.appendingPathComponent("train"))
            || fileExists(directory.appendingPathComponent("test"))
    }

    /// Loads one split of CIFAR-10. Class names come from `label_names` in `batches.meta`, or are the
    /// standard ten names when that file is absent.
    ///
    /// - Throws: `DatasetError.fileMissing` for a missing batch, `.malformedFile` for a batch or meta
    ///   file that is not a valid pickle or lacks the expected entries, `.labelOutOfRange` for a label
    ///   outside `0..<10`.
    static func loadCIFAR10(directory: URL, split: Split) throws -> InMemoryDataset {
        var classNames = cifar10ClassNames
        let metaURL = directory.appendingPathComponent("batches.meta")
        if fileExists(metaURL) {
            classNames = try readLabelNames(metaURL, key: "label_names", expectedCount: 10)
        }

        var pixels: [UInt8] = []
        var labels: [Int] = []
        for name in cifar10BatchFileNames(for: split, suffix: "") {
            try appendBatch(
                of: directory.appendingPathComponent(name), labelKey: "labels", classCount: 10,
                pixels: &pixels, labels: &labels)
        }
        return makeCIFARDataset(
            pixels: pixels, labels: labels, classNames: classNames,
            origin: "CIFAR-10 (Python) \(split.rawValue) split in \(directory.path)")
    }

    /// Loads one split of CIFAR-100 with its 100 fine labels, named by `fine_label_names` in `meta`.
    ///
    /// - Throws: `DatasetError.fileMissing` when `meta` or the split's file is missing, because
    ///   CIFAR-100 names have no built-in fallback (as in the binary reader), and the errors of `loadCIFAR10`.
    static func loadCIFAR100(directory: URL, split: Split) throws -> InMemoryDataset {
        let classNames = try readLabelNames(
            directory.appendingPathComponent("meta"), key: "fine_label_names", expectedCount: 100)

        var pixels: [UInt8] = []
        var labels: [Int] = []
        try appendBatch(
            of: directory.appendingPathComponent(split.rawValue), labelKey: "fine_labels", classCount: 100,
            pixels: &pixels, labels: &labels)
        return makeCIFARDataset(
            pixels: pixels, labels: labels, classNames: classNames,
            origin: "CIFAR-100 (Python) \(split.rawValue) split in \(directory.path)")
    }

    /// Appends the images and labels of one batch file after checking the array's type and shape,
    /// the label count and every label.
    private static func appendBatch(
        of url: URL, labelKey: String, classCount: Int, pixels: inout [UInt8], labels: inout [Int]
    ) throws {
        let batch = try readPickledDictionary(url, expecting: "'data' and '\(labelKey)'")

        guard let dataValue = entry(batch, "data") else {
            throw DatasetError.malformedFile(path: url.path, reason: "the batch has no 'data' entry")
        }
        guard let images = dataValue.numpyArray else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "'data' is a \(dataValue.typeName), expected a numpy uint8 array")
        }
        guard images.dtype == .u8 else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "'data' has element type \(images.dtype.torchName), expected uint8")
        }
        guard images.shape.count == 2 && images.shape[1] == imageBytes else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "'data' has shape \(images.shape), expected [N, \(imageBytes)]")
        }
        let imageCount = images.shape[0]

        let batchLabels = try readLabels(batch, key: labelKey, url: url)
        guard batchLabels.count == imageCount else {
            throw DatasetError.malformedFile(
                path: url.path,
                reason: "'\(labelKey)' has \(batchLabels.count) labels but 'data' has \(imageCount) images")
        }
        for (sample, label) in batchLabels.enumerated() {
            try checkCIFARLabel(label, sample: sample, classCount: classCount, path: url.path)
        }

        pixels.append(contentsOf: images.data)
        labels.append(contentsOf: batchLabels)
    }

    /// Reads a label entry: a list of ints, as the downloads store it, or a 1-D numpy integer array.
    private static func readLabels(_ batch: PickleDictionary, key: String, url: URL) throws -> [Int] {
        guard let value = entry(batch, key) else {
            throw DatasetError.malformedFile(path: url.path, reason: "the batch has no '\(key)' entry")
        }

        if let array = value.numpyArray {
            guard array.shape.count == 1, let values = array.storedTensor(name: key).integerValues() else {
                throw DatasetError.malformedFile(
                    path: url.path,
                    reason: "'\(key)' is a numpy \(array.dtype.torchName) array of shape \(array.shape), "
                        + "expected a list of ints")
            }
            return values.map { Int($0) }
        }

        guard let elements = value.elements else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "'\(key)' is a \(value.typeName), expected a list of ints")
        }
        return try elements.enumerated().map { sample, element in
            guard let label = element.integer else {
                let kind = element.typeName == "int" ? "an int wider than 64 bits" : "a \(element.typeName)"
                throw DatasetError.malformedFile(
                    path: url.path, reason: "'\(key)' entry \(sample) is \(kind), expected an int class index")
            }
            return label
        }
    }

    /// Reads the class names stored under `key` in a meta file, as bytes (Python 2) or str.
    private static func readLabelNames(_ url: URL, key: String, expectedCount: Int) throws -> [String] {
        let meta = try readPickledDictionary(url, expecting: "'\(key)'")

        guard let value = entry(meta, key) else {
            throw DatasetError.malformedFile(path: url.path, reason: "the meta file has no '\(key)' entry")
        }
        guard let elements = value.elements else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "'\(key)' is a \(value.typeName), expected a list of names")
        }
        guard elements.count == expectedCount else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "'\(key)' lists \(elements.count) class names, expected \(expectedCount)")
        }

        return try elements.enumerated().map { index, element in
            if let text = element.string {
                return text
            }
            if let bytes = element.bytes, let text = String(data: bytes, encoding: .utf8) {
                return text
            }
            throw DatasetError.malformedFile(
                path: url.path, reason: "'\(key)' entry \(index) is a \(element.typeName), expected UTF-8 text")
        }
    }

    /// Reads and unpickles a file whose top level must be a dict. `expecting` names the entries that
    /// the error message mentions when it is not a dict.
    private static func readPickledDictionary(_ url: URL, expecting: String) throws -> PickleDictionary {
        let data = try readFile(url)

        let value: PickleValue
        do {
            value = try unpickle(data)
        } catch let error as PickleError {
            throw DatasetError.malformedFile(path: url.path, reason: error.description)
        }

        guard let dictionary = value.dictionary else {
            throw DatasetError.malformedFile(
                path: url.path, reason: "the pickle contains a \(value.typeName), expected a dict with \(expecting)")
        }
        return dictionary
    }

    /// Looks up `key` as a bytes key (Python 2 pickles), then as a str key (Python 3).
    private static func entry(_ dictionary: PickleDictionary, _ key: String) -> PickleValue? {
        dictionary[bytesKey: key] ?? dictionary[key]
    }
}
