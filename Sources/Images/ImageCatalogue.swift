// The netboot images under the images root: one folder per image, holding the kernel, the
// initrd and `image.json` (what it is and the SHA-256 of each file). Written by
// `garage-pxe import`, read by the menus (which images exist, their file names) and by the
// HTTP server (which files may be served).

import Foundation

/// Size and digest of one file of an image.
public struct ImageFileRecord: Codable, Sendable, Equatable {
    public var sha256: String
    public var size: Int64

    public init(sha256: String, size: Int64) {
        self.sha256 = sha256
        self.size = size
    }
}

/// The contents of `image.json`.
public struct ImageMetadata: Codable, Sendable, Equatable {
    public var distribution: String
    public var release: String
    public var architecture: String
    /// File names inside the image folder.
    public var kernel: String
    public var initrd: String
    public var files: [String: ImageFileRecord]
    /// Installer build, e.g. "20230607+deb12u15" (from version.info), when known.
    public var installerBuild: String?
    /// What it was imported from (a folder or an archive path).
    public var source: String?
    /// Whether the files were checked against a SHA256SUMS at import.
    public var verifiedAgainstSHA256SUMS: Bool

    enum CodingKeys: String, CodingKey {
        case distribution, release, architecture, kernel, initrd, files, source
        case installerBuild = "installer_build"
        case verifiedAgainstSHA256SUMS = "verified_against_sha256sums"
    }

    public init(distribution: String, release: String, architecture: String, kernel: String, initrd: String,
                files: [String: ImageFileRecord], installerBuild: String? = nil, source: String? = nil,
                verifiedAgainstSHA256SUMS: Bool = false) {
        self.distribution = distribution
        self.release = release
        self.architecture = architecture
        self.kernel = kernel
        self.initrd = initrd
        self.files = files
        self.installerBuild = installerBuild
        self.source = source
        self.verifiedAgainstSHA256SUMS = verifiedAgainstSHA256SUMS
    }
}

public struct ImageRecord: Sendable, Equatable {
    public var name: String
    public var directory: String
    public var metadata: ImageMetadata
}

public enum ImageCatalogue {
    public static let metadataFileName = "image.json"

    /// Image folder names appear in URLs: a safe alphabet only.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 64, first != ".", first != "-" else { return false }
        return name.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "-_.".unicodeScalars.contains($0) }
    }

    /// Every image folder with a readable `image.json` whose kernel and initrd exist.
    /// Folders that fail come back as problems (one line each), not as errors: one bad
    /// image must not hide the others.
    public static func load(directory: String) -> (images: [ImageRecord], problems: [String]) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            return ([], fm.fileExists(atPath: directory) ? ["\(directory): cannot list the images folder"] : [])
        }
        var images: [ImageRecord] = []
        var problems: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let folder = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            guard isValidName(name) else {
                problems.append("\(folder): image folder names may contain only letters, digits, '-', '_' and '.'")
                continue
            }
            let metadataPath = folder + "/" + metadataFileName
            guard let data = fm.contents(atPath: metadataPath) else {
                problems.append("\(metadataPath): missing (import images with 'garage-pxe import debian')")
                continue
            }
            let metadata: ImageMetadata
            do {
                metadata = try JSONDecoder().decode(ImageMetadata.self, from: data)
            } catch {
                problems.append("\(metadataPath): not valid image metadata: \(error)")
                continue
            }
            let missing = [metadata.kernel, metadata.initrd].filter { !fm.fileExists(atPath: folder + "/" + $0) }
            guard missing.isEmpty else {
                problems.append("\(folder): \(missing.joined(separator: ", ")) named in \(metadataFileName) is missing")
                continue
            }
            images.append(ImageRecord(name: name, directory: folder, metadata: metadata))
        }
        return (images, problems)
    }

    static func encode(_ metadata: ImageMetadata) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(metadata)
    }
}
