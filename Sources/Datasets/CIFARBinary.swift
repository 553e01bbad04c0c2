import Foundation

/// Readers for the binary versions of CIFAR-10 (`cifar-10-batches-bin`) and CIFAR-100
/// (`cifar-100-binary`). Each record is the label byte(s) followed by 3,072 pixel bytes: the
/// 1,024 red values of the 32x32 image row by row, then green, then blue.
enum CIFARBinary {
    static let imageBytes = 3 * 32 * 32

    /// Recognises a CIFAR-10 binary directory by its batch files.
    static func isCIFAR10(_ directory: URL) -> Bool {
        fileExists(directory.appendingPathComponent("data_batch_1.bin"))
            || fileExists(directory.appendingPathComponent("test_batch.bin"))
    }

    /// Recognises a CIFAR-100 binary directory by its `train.bin` or `test.bin`.
    static func isCIFAR100(_ directory: URL) -> Bool {
        fileExists(directory.appendingPathComponent("train.bin"))
            || fileExists(directory.appendingPathComponent("test.bin"))
    }

    /// Loads one split of CIFAR-10; class names come from `batches.meta.txt` when present.
    static func loadCIFAR10(directory: URL, split: Split) throws -> InMemoryDataset {
        let names = cifar10BatchFileNames(for: split, suffix: ".bin")

        var classNames = cifar10ClassNames
        let metaURL = directory.appendingPathComponent("batches.meta.txt")
        if fileExists(metaURL) {
            classNames = try readClassNames(metaURL, expectedCount: 10)
        }

        var pixels: [UInt8] = []
        var labels: [Int] = []
        for name in names {
            try appendRecords(
                of: directory.appendingPathComponent(name), labelBytes: 1, labelOffset: 0, classCount: 10,
                pixels: &pixels, labels: &labels)
        }
        return makeCIFARDataset(
            pixels: pixels, labels: labels, classNames: classNames,
            origin: "CIFAR-10 (binary) \(split.rawValue) split in \(directory.path)")
    }

    /// Loads one split of CIFAR-100 with its 100 fine labels; `fine_label_names.txt` must be present.
    static func loadCIFAR100(directory: URL, split: Split) throws -> InMemoryDataset {
        let classNames = try readClassNames(directory.appendingPathComponent("fine_label_names.txt"), expectedCount: 100)

        var pixels: [UInt8] = []
        var labels: [Int] = []
        try appendRecords(
            of: directory.appendingPathComponent("\(split.rawValue).bin"), labelBytes: 2, labelOffset: 1, classCount: 100,
            pixels: &pixels, labels: &labels)
        return makeCIFARDataset(
            pixels: pixels, labels: labels, classNames: classNames,
            origin: "CIFAR-100 (binary) \(split.rawValue) split in \(directory.path)")
    }

    /// Appends every record of one file, checking its size and labels.
    /// `labelOffset` picks the label byte among the `labelBytes` leading bytes (CIFAR-100's fine label is the second).
    private static func appendRecords(
        of url: URL, labelBytes: Int, labelOffset: Int, classCount: Int, pixels: inout [UInt8], labels: inout [Int]
    ) throws {
        let data = try readFile(url)
        let recordBytes = labelBytes + imageBytes
        guard data.count > 0 && data.count % recordBytes == 0 else {
            let whole = data.count / recordBytes
            throw DatasetError.invalidFileSize(
                path: url.path,
                expected: "a whole number of \(recordBytes)-byte records (\(whole) records are \(whole * recordBytes) bytes, "
                    + "\(whole + 1) are \((whole + 1) * recordBytes))",
                actual: data.count)
        }

        let recordCount = data.count / recordBytes
        let firstSample = labels.count
        pixels.reserveCapacity(pixels.count + recordCount * imageBytes)
        labels.reserveCapacity(labels.count + recordCount)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            for record in 0..<recordCount {
                let start = record * recordBytes
                let label = Int(bytes[start + labelOffset])
                try checkCIFARLabel(label, sample: record, classCount: classCount, path: url.path)
                labels.append(label)
                pixels.append(contentsOf: bytes[(start + labelBytes)..<(start + recordBytes)])
            }
        }
        precondition(labels.count == firstSample + recordCount)
    }
}

/// Returns the CIFAR-10 batch file names of one split: `data_batch_1` ... `data_batch_5` or
/// `test_batch`, each followed by `suffix` (`.bin` in the binary download, nothing in the Python one).
func cifar10BatchFileNames(for split: Split, suffix: String) -> [String] {
    switch split {
    case .train:
        return (1...5).map { "data_batch_\($0)\(suffix)" }
    case .test:
        return ["test_batch\(suffix)"]
    }
}

/// Throws `DatasetError.labelOutOfRange` unless `label` lies in `0..<classCount`.
/// `sample` is the sample's index within the file at `path`.
func checkCIFARLabel(_ label: Int, sample: Int, classCount: Int, path: String) throws {
    guard label >= 0 && label < classCount else {
        throw DatasetError.labelOutOfRange(path: path, sample: sample, label: label, classCount: classCount)
    }
}

/// Wraps decoded CIFAR samples, 3 x 32 x 32 bytes each in `[C, H, W]` order, as a data set.
func makeCIFARDataset(pixels: [UInt8], labels: [Int], classNames: [String], origin: String) -> InMemoryDataset {
    InMemoryDataset(
        pixels: pixels, labels: labels, imageSize: ImageSize(32), channelCount: 3, classNames: classNames, origin: origin)
}

/// Reads class names, one per line, ignoring blank lines (the CIFAR `.txt` files end with some).
func readClassNames(_ url: URL, expectedCount: Int) throws -> [String] {
    let data = try readFile(url)
    guard let text = String(data: data, encoding: .utf8) else {
        throw DatasetError.malformedFile(path: url.path, reason: "not UTF-8 text")
    }

    let names = text.split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
    guard names.count == expectedCount else {
        throw DatasetError.malformedFile(path: url.path, reason: "it lists \(names.count) class names, expected \(expectedCount)")
    }
    return names
}

/// Whether a regular file (or a link to one) exists at `url`.
func fileExists(_ url: URL) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
}

/// Whether a directory (or a link to one) exists at `url`.
func directoryExists(_ url: URL) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
}
