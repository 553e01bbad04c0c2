import Foundation

/// Opens one split of the data set at `path`, recognising its layout, or the built-in synthetic
/// images when `path` is nil.
///
/// Layouts tried in order, each in `path` itself and in the subfolder named in brackets:
/// 1. CIFAR-10 binary: `data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`, optional
///    `batches.meta.txt` (`cifar-10-batches-bin/`).
/// 2. CIFAR-100 binary: `train.bin`, `test.bin`, `fine_label_names.txt` (`cifar-100-binary/`).
/// 3. CIFAR-10 Python (pickled): `data_batch_1` ... `data_batch_5`, `test_batch`, optional
///    `batches.meta` (`cifar-10-batches-py/`).
/// 4. CIFAR-100 Python (pickled): `train`, `test`, `meta` (`cifar-100-python/`).
/// 5. MNIST or Fashion-MNIST IDX files, raw or `.gz` (`raw/`, `MNIST/raw/`, `FashionMNIST/raw/`).
/// 6. Image folders: `train/` and `test/` (or `val/`), each with one subfolder per class.
/// 7. One subfolder per class directly in `path`, which serves as the training split only.
///
/// - Throws: `DatasetError.directoryNotFound` when `path` is not a directory,
///   `.unrecognizedLayout` listing what was looked for, `.splitNotFound` when the layout lacks the
///   split, and the errors of each reader (missing or malformed files, empty class folders).
public func openDataset(
    at path: URL?, split: Split, synthetic: SyntheticConfiguration = SyntheticConfiguration()
) throws -> Dataset {
    guard let path else {
        return SyntheticDataset(configuration: synthetic, split: split)
    }
    guard directoryExists(path) else {
        throw DatasetError.directoryNotFound(path: path.path)
    }

    func candidates(_ subfolders: [String]) -> [URL] {
        [path] + subfolders.map { path.appendingPathComponent($0) }.filter(directoryExists)
    }

    if let directory = candidates(["cifar-10-batches-bin"]).first(where: CIFARBinary.isCIFAR10) {
        return try CIFARBinary.loadCIFAR10(directory: directory, split: split)
    }
    if let directory = candidates(["cifar-100-binary"]).first(where: CIFARBinary.isCIFAR100) {
        return try CIFARBinary.loadCIFAR100(directory: directory, split: split)
    }
    if let directory = candidates(["cifar-10-batches-py"]).first(where: CIFARPython.isCIFAR10) {
        return try CIFARPython.loadCIFAR10(directory: directory, split: split)
    }
    if let directory = candidates(["cifar-100-python"]).first(where: CIFARPython.isCIFAR100) {
        return try CIFARPython.loadCIFAR100(directory: directory, split: split)
    }
    if let directory = candidates(["raw", "MNIST/raw", "FashionMNIST/raw"]).first(where: IDX.isIDXDirectory) {
        return try IDX.load(directory: directory, split: split)
    }

    let splitFolders = split == .train ? ["train"] : ["test", "val"]
    let hasSplitFolders = ["train", "test", "val"].contains { directoryExists(path.appendingPathComponent($0)) }
    if hasSplitFolders {
        guard let folder = splitFolders.map({ path.appendingPathComponent($0) }).first(where: directoryExists) else {
            throw DatasetError.splitNotFound(path: path.path, split: split, lookedFor: splitFolders.map { $0 + "/" })
        }
        return try ImageFolderDataset(root: folder)
    }

    let hasClassFolders = try listDirectory(path).contains { $0.isDirectory && !$0.name.hasPrefix(".") }
    if hasClassFolders {
        guard split == .train else {
            throw DatasetError.splitNotFound(
                path: path.path, split: split,
                lookedFor: ["test/ or val/ beside train/ (class folders directly in the directory count as the train split)"])
        }
        return try ImageFolderDataset(root: path)
    }

    throw DatasetError.unrecognizedLayout(path: path.path, lookedFor: recognizedLayouts)
}

/// The layouts `openDataset` searches for, listed in its error message.
let recognizedLayouts = [
    "CIFAR-10 binary (data_batch_1.bin ... data_batch_5.bin, test_batch.bin, here or in cifar-10-batches-bin/)",
    "CIFAR-100 binary (train.bin, test.bin, fine_label_names.txt, here or in cifar-100-binary/)",
    "CIFAR-10 Python (data_batch_1 ... data_batch_5, test_batch, batches.meta, here or in cifar-10-batches-py/)",
    "CIFAR-100 Python (train, test, meta, here or in cifar-100-python/)",
    "MNIST/Fashion-MNIST IDX (train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz], here or in raw/)",
    "image folders (train/ and test/ or val/, each with one subfolder of .jpg/.jpeg/.png files per class)",
    "one subfolder of .jpg/.jpeg/.png files per class",
]
