import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Images in one subfolder per class, like torchvision's `ImageFolder`: classes are the
/// subfolder names sorted by code point, and each class's files are found recursively, folders
/// sorted by path and files by name. Files are decoded when a sample is read, so opening
/// only lists names.
///
/// Files ending in `.jpg`, `.jpeg` or `.png` (any case) are samples. Other files are ignored, as
/// torchvision ignores names outside its `IMG_EXTENSIONS`, except that the image formats that
/// torchvision reads but this reader cannot (`.bmp`, `.ppm`, `.pgm`, `.tif`, `.tiff`, `.webp`)
/// are rejected, so that labels and indices never silently differ from torchvision's.
public final class ImageFolderDataset: Dataset, @unchecked Sendable {
    /// The folder holding the class subfolders.
    public let root: URL
    public let classNames: [String]
    public let count: Int
    public let channelCount = 3

    let paths: [String]
    let labels: [Int]

    static let supportedExtensions: Set<String> = ["jpg", "jpeg", "png"]
    static let unsupportedImageExtensions: Set<String> = ["bmp", "ppm", "pgm", "tif", "tiff", "webp"]

    /// Lists the images under `root`.
    /// - Throws: `DatasetError.directoryNotFound` when `root` is not a directory,
    ///   `.unrecognizedLayout` when it has no class subfolders, `.emptyClassFolder` when a class
    ///   has no images, and `.unreadableImage` for an image format that cannot be decoded.
    public init(root: URL) throws {
        guard directoryExists(root) else {
            throw DatasetError.directoryNotFound(path: root.path)
        }

        // NOTE: Folders whose names start with "." are skipped, whereas torchvision would treat
        // them (for example .ipynb_checkpoints) as classes.
        let classNames = try listDirectory(root)
            .filter { $0.isDirectory && !$0.name.hasPrefix(".") }
            .map(\.name)
            .sorted(by: codePointOrder)
        guard !classNames.isEmpty else {
            throw DatasetError.unrecognizedLayout(
                path: root.path, lookedFor: ["one subfolder per class holding .jpg, .jpeg or .png files"])
        }

        var paths: [String] = []
        var labels: [Int] = []
        for (label, className) in classNames.enumerated() {
            let classPath = root.appendingPathComponent(className).path
            let files = try listImagesRecursively(classPath)
            guard !files.isEmpty else {
                throw DatasetError.emptyClassFolder(path: classPath)
            }
            paths.append(contentsOf: files)
            labels.append(contentsOf: repeatElement(label, count: files.count))
        }

        self.root = root
        self.classNames = classNames
        self.paths = paths
        self.labels = labels
        self.count = paths.count
    }

    public var uniformImageSize: ImageSize? { nil }

    public var origin: String { "image folder \(root.path)" }

    /// The file of sample `index`.
    public func path(at index: Int) -> String {
        precondition(index >= 0 && index < count, "path(at:): index \(index) is outside 0..<\(count)")
        return paths[index]
    }

    public func label(at index: Int) -> Int {
        precondition(index >= 0 && index < count, "label(at:): index \(index) is outside 0..<\(count)")
        return labels[index]
    }

    public func image(at index: Int) throws -> Image {
        try decodeImageFile(URL(fileURLWithPath: path(at: index)))
    }
}

/// Orders strings as Python's `sorted` does, by Unicode code point (UTF-8 byte order is the same).
func codePointOrder(_ left: String, _ right: String) -> Bool {
    left.utf8.lexicographicallyPrecedes(right.utf8)
}

struct DirectoryEntry {
    var name: String
    var isDirectory: Bool
}

/// Lists a directory with `readdir`, which is much faster than FileManager for tens of thousands
/// of files. Links are followed, as torchvision's `os.walk(followlinks=True)` does.
func listDirectory(_ path: String) throws -> [DirectoryEntry] {
    guard let directory = opendir(path) else {
        throw DatasetError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    defer { closedir(directory) }

    var entries: [DirectoryEntry] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name == "." || name == ".." {
            continue
        }

        let type = Int32(entry.pointee.d_type)
        var isDirectory = type == Int32(DT_DIR)
        if type == Int32(DT_LNK) || type == Int32(DT_UNKNOWN) {
            var status = stat()
            if stat(path + "/" + name, &status) == 0 {
                isDirectory = (status.st_mode & S_IFMT) == S_IFDIR
            }
        }
        entries.append(DirectoryEntry(name: name, isDirectory: isDirectory))
    }
    return entries
}

func listDirectory(_ url: URL) throws -> [DirectoryEntry] {
    try listDirectory(url.path)
}

/// The image files under `path`, in torchvision's order: folders by path, then files by name.
private func listImagesRecursively(_ path: String) throws -> [String] {
    var folders: [(path: String, files: [String])] = []
    var pending = [path]
    while let folder = pending.popLast() {
        var files: [String] = []
        for entry in try listDirectory(folder) {
            let entryPath = folder + "/" + entry.name
            if entry.isDirectory {
                pending.append(entryPath)
                continue
            }

            let suffix = entry.name.split(separator: ".").last.map { $0.lowercased() } ?? ""
            if ImageFolderDataset.supportedExtensions.contains(suffix) && entry.name.contains(".") {
                files.append(entry.name)
            } else if ImageFolderDataset.unsupportedImageExtensions.contains(suffix) && entry.name.contains(".") {
                throw DatasetError.unreadableImage(
                    path: entryPath, reason: "only JPEG and PNG images are supported; convert this file to PNG or remove it")
            }
        }
        folders.append((folder, files.sorted(by: codePointOrder)))
    }

    folders.sort { codePointOrder($0.path, $1.path) }
    return folders.flatMap { folder in folder.files.map { folder.path + "/" + $0 } }
}
