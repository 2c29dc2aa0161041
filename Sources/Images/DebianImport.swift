// `garage-pxe import debian SRC`: makes an image folder from Debian's netboot installer,
// either the tree a `debian-installer-NN-netboot-amd64` package installs (Debian 12 or 13)
// or a `netboot.tar.gz` from a mirror. Kernel and initrd are copied, and Debian's signed
// UEFI chain when the image has it (`bootnetx64.efi`, the Microsoft-signed shim, and
// `grubx64.efi`, Debian's signed GRUB, which shim loads from the same folder: what PCs
// with Secure Boot on can run), each while its SHA-256 is computed, checked against a SHA256SUMS when one is given, and the folder appears under
// its final name only once complete (a rename), so the server never sees half an image.

import Crypto
import Foundation

public struct DebianImportError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

public struct DebianImport: Sendable {
    public var source: String
    public var imagesDirectory: String
    /// Folder name; default `debian-RELEASE-ARCH`.
    public var name: String?
    public var sha256sumsFile: String?
    /// Debian's netboot kernel is ~8 MB and its initrd ~40 MB: a file claiming more than
    /// this is not an installer, and is refused before anything is written.
    var maximumFileBytes: Int64 = 1 << 30
    /// Decompressed bytes read from one archive at most (Debian's unpacks to ~100 MB): a
    /// gzip bomb ends with an error instead of running for hours.
    var maximumUnpackedBytes: Int64 = 4 << 30

    public init(source: String, imagesDirectory: String, name: String? = nil, sha256sumsFile: String? = nil) {
        self.source = source
        self.imagesDirectory = imagesDirectory
        self.name = name
        self.sha256sumsFile = sha256sumsFile
    }

    static let kernelName = "linux"
    static let initrdName = "initrd.gz"
    /// Copied when present (every amd64 netboot image since Debian 10 has them; other
    /// architectures do not): the signed chain for UEFI PCs with Secure Boot on.
    public static let shimName = "bootnetx64.efi"
    public static let grubName = "grubx64.efi"
    static let signedLoaderNames = [shimName, grubName]
    /// The module lists Debian's signed GRUB reads under its prefix (`grub/x86_64-efi/`)
    /// as it starts, over TFTP or HTTP: copied when present (Debian 13's image has them), so
    /// that GRUB gets them as from Debian's own netboot tree instead of four 404s per boot.
    /// The modules themselves are not copied: with Secure Boot on GRUB may not load any,
    /// and the chain must behave the same with it off.
    public static let grubListNames = ["command.lst", "crypto.lst", "fs.lst", "terminal.lst"].map { "grub/x86_64-efi/" + $0 }
    /// Every optional file of the signed chain, by its path under `debian-installer/ARCH/`.
    static var signedChainNames: [String] { signedLoaderNames + grubListNames }

    /// Imports and returns the new image; on any error nothing is left in the images folder.
    public func run() throws(DebianImportError) -> ImageRecord {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: source, isDirectory: &isDirectory) else { throw DebianImportError("\(source) does not exist") }
        let sums = try sha256sumsFile.map(SHA256Sums.load)
        // An archive listed in SHA256SUMS is checked whole before a byte of it is parsed:
        // a tampered or corrupt download is refused without reaching the tar reader.
        if !isDirectory.boolValue, let sums {
            try sums.verifyBeforeUnpacking(archive: source)
        }
        do {
            try fm.createDirectory(atPath: imagesDirectory, withIntermediateDirectories: true)
        } catch {
            throw DebianImportError("cannot create \(imagesDirectory): \(error.localizedDescription)")
        }
        let staging = imagesDirectory + "/.import-\(UUID().uuidString)"
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw DebianImportError("cannot write in \(imagesDirectory): \(error.localizedDescription)")
        }
        do {
            let found = isDirectory.boolValue ? try copyFromTree(into: staging) : try copyFromArchive(into: staging)
            var verified = false
            if let sums { verified = try sums.verify(found.checked) }
            let version = InstallerVersion(parsing: found.versionInfo)
            let release = version.release ?? "unknown"
            let imageName = name ?? "debian-\(release)-\(found.architecture)"
            guard ImageCatalogue.isValidName(imageName) else {
                throw DebianImportError("image name '\(imageName)' may contain only letters, digits, '-', '_' and '.'")
            }
            let metadata = ImageMetadata(
                distribution: "debian", release: release, architecture: found.architecture, kernel: Self.kernelName,
                initrd: Self.initrdName, files: found.files, installerBuild: version.build,
                source: URL(fileURLWithPath: source).standardized.path, verifiedAgainstSHA256SUMS: verified)
            try ImageCatalogue.encode(metadata).write(to: URL(fileURLWithPath: staging + "/" + ImageCatalogue.metadataFileName))
            let final = imagesDirectory + "/" + imageName
            try replace(final, with: staging)
            return ImageRecord(name: imageName, directory: final, metadata: metadata)
        } catch {
            try? fm.removeItem(atPath: staging)
            if let error = error as? DebianImportError { throw error }
            throw DebianImportError("\(error)")
        }
    }

    /// What a source yielded: the files copied into the staging folder.
    struct Found {
        var architecture: String
        var files: [String: ImageFileRecord]
        var versionInfo: String
        /// Digests to look up in SHA256SUMS: source-relative path → sha256.
        var checked: [(path: String, sha256: String)]
    }

    // MARK: Package tree

    /// Accepts the package's image root (…/images/12/amd64/text), its `debian-installer/ARCH`
    /// folder, or …/images/12/amd64 (the text flavour is taken).
    private func copyFromTree(into staging: String) throws -> Found {
        let fm = FileManager.default
        var base = URL(fileURLWithPath: source).standardized
        if fm.fileExists(atPath: base.appendingPathComponent("text/debian-installer").path) { base.appendPathComponent("text") }
        var installer = base
        var root = base
        if !fm.fileExists(atPath: base.appendingPathComponent(Self.kernelName).path) {
            let arches = ((try? fm.contentsOfDirectory(atPath: base.appendingPathComponent("debian-installer").path)) ?? []).sorted()
            guard let arch = arches.first(where: { fm.fileExists(atPath: base.appendingPathComponent("debian-installer/\($0)/\(Self.kernelName)").path) }) else {
                throw DebianImportError("\(source) holds no Debian netboot installer (expected debian-installer/ARCH/linux and initrd.gz)")
            }
            installer = base.appendingPathComponent("debian-installer/\(arch)")
        } else {
            root = base.deletingLastPathComponent().deletingLastPathComponent()
        }
        let architecture = installer.lastPathComponent
        var files: [String: ImageFileRecord] = [:]
        var checked: [(String, String)] = []
        for name in [Self.kernelName, Self.initrdName] {
            let from = installer.appendingPathComponent(name).path
            guard let input = FileHandle(forReadingAtPath: from) else { throw DebianImportError("\(from) is missing") }
            defer { try? input.close() }
            let record = try copyHashing(into: staging + "/" + name) { try input.read(upToCount: 1 << 20).map { [UInt8]($0) } ?? [] }
            files[name] = record
            checked.append(("debian-installer/\(architecture)/\(name)", record.sha256))
        }
        for name in Self.signedChainNames {
            let from = installer.appendingPathComponent(name).path
            guard let input = FileHandle(forReadingAtPath: from) else { continue }
            defer { try? input.close() }
            let record = try copyHashing(into: staging + "/" + name) { try input.read(upToCount: 1 << 20).map { [UInt8]($0) } ?? [] }
            files[name] = record
            checked.append(("debian-installer/\(architecture)/\(name)", record.sha256))
        }
        let versionInfo = (try? String(contentsOf: root.appendingPathComponent("version.info"), encoding: .utf8)) ?? ""
        return Found(architecture: architecture, files: files, versionInfo: versionInfo, checked: checked)
    }

    // MARK: netboot.tar.gz

    private func copyFromArchive(into staging: String) throws -> Found {
        var archiveHash = SHA256()
        let gzip: GzipFileReader
        do {
            gzip = try GzipFileReader(path: source) { archiveHash.update(data: $0) }
        } catch {
            throw DebianImportError("\(source): \(error)")
        }
        let unpacked = BoundedSource(gzip, limit: maximumUnpackedBytes)
        var tar = TarReader(unpacked)
        var files: [String: ImageFileRecord] = [:]
        var checked: [(String, String)] = []
        var architecture: String?
        var versionInfo = ""
        do {
            while let entry = try tar.next() {
                let parts = entry.path.split(separator: "/").map(String.init)
                if entry.path == "version.info" && entry.kind == .file && entry.size < 4096 {
                    versionInfo = String(decoding: try tar.readData(upTo: 4096), as: UTF8.self)
                    continue
                }
                // debian-installer/ARCH/linux, …/initrd.gz and the signed chain's files, nothing else.
                let name = parts.dropFirst(2).joined(separator: "/")
                guard parts.count >= 3, parts[0] == "debian-installer",
                      ([Self.kernelName, Self.initrdName] + Self.signedChainNames).contains(name) else { continue }
                guard entry.kind == .file else { throw DebianImportError("\(entry.path) in the archive is not a regular file") }
                guard entry.size <= maximumFileBytes else {
                    throw DebianImportError("\(entry.path) in the archive says it is \(entry.size) bytes, more than an installer's \(maximumFileBytes >> 20) MiB")
                }
                if let architecture, architecture != parts[1] {
                    throw DebianImportError("the archive holds several architectures (\(architecture), \(parts[1])): unpack it and import one folder")
                }
                architecture = parts[1]
                let record = try copyHashing(into: staging + "/" + name) { try tar.readData(upTo: 1 << 20) }
                guard record.size == entry.size else { throw DebianImportError("\(entry.path) is truncated in the archive") }
                files[name] = record
                checked.append((entry.path, record.sha256))
            }
            // Drain the stream: the archive's checksum covers every byte, and a corrupt
            // tail must fail here rather than go unnoticed.
            while !(try unpacked.read(upTo: 1 << 20)).isEmpty {}
        } catch let error as DebianImportError {
            throw error
        } catch {
            throw DebianImportError("\(source): \(error)")
        }
        guard let architecture, files[Self.kernelName] != nil, files[Self.initrdName] != nil else {
            throw DebianImportError("\(source) holds no debian-installer/ARCH/linux and initrd.gz")
        }
        checked.append((URL(fileURLWithPath: source).lastPathComponent, hex(archiveHash.finalize())))
        return Found(architecture: architecture, files: files, versionInfo: versionInfo, checked: checked)
    }

    // MARK: Helpers

    /// Writes what `next` yields (until it yields nothing) to `path`, hashing on the way.
    private func copyHashing(into path: String, next: () throws -> [UInt8]) throws -> ImageFileRecord {
        // GRUB's lists sit in a folder of their own (grub/x86_64-efi/), as in Debian's tree.
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil), let output = FileHandle(forWritingAtPath: path) else {
            throw DebianImportError("cannot write \(path)")
        }
        defer { try? output.close() }
        var hash = SHA256()
        var size: Int64 = 0
        while true {
            let chunk = try next()
            if chunk.isEmpty { break }
            hash.update(data: chunk)
            try output.write(contentsOf: chunk)
            size += Int64(chunk.count)
        }
        try output.synchronize()
        return ImageFileRecord(sha256: hex(hash.finalize()), size: size)
    }

    /// Puts `staging` at `final`, replacing an older import of the same name.
    private func replace(_ final: String, with staging: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: final) {
            let old = imagesDirectory + "/.replaced-\(UUID().uuidString)"
            try fm.moveItem(atPath: final, toPath: old)
            try fm.moveItem(atPath: staging, toPath: final)
            try? fm.removeItem(atPath: old)
        } else {
            try fm.moveItem(atPath: staging, toPath: final)
        }
    }
}

func hex(_ digest: SHA256.Digest) -> String {
    digest.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// version.info: "Debian version:  12 (bookworm)" and "Installer build: 20230607+deb12u15".
struct InstallerVersion {
    var release: String?
    var build: String?

    init(parsing text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "Debian version" { release = parts[1].split(separator: " ").first.map(String.init) }
            if parts[0] == "Installer build" { build = parts[1] }
        }
    }
}

/// A SHA256SUMS file: "HEX  PATH" lines. Paths are matched by their tail, since Debian's
/// list for the netboot folder names them "./netboot/debian-installer/amd64/linux".
struct SHA256Sums {
    var file: String
    var entries: [(path: String, sha256: String)]

    static func load(_ file: String) throws(DebianImportError) -> SHA256Sums {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw DebianImportError("cannot read \(file)") }
        var entries: [(String, String)] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(maxSplits: 1, whereSeparator: \.isWhitespace)
            guard parts.count == 2, parts[0].count == 64, parts[0].allSatisfy({ $0.isASCII && $0.isHexDigit }) else { continue }
            var path = parts[1].trimmingCharacters(in: .whitespaces)
            if path.hasPrefix("*") { path.removeFirst() }
            while path.hasPrefix("./") { path.removeFirst(2) }
            entries.append((path, parts[0].lowercased()))
        }
        guard !entries.isEmpty else { throw DebianImportError("\(file) holds no checksum lines") }
        return SHA256Sums(file: file, entries: entries)
    }

    /// When the archive itself is listed (by its name), its SHA-256 must match before it is
    /// opened as gzip; an archive not listed is checked file by file after unpacking.
    func verifyBeforeUnpacking(archive path: String) throws(DebianImportError) {
        let name = URL(fileURLWithPath: path).lastPathComponent
        guard let entry = entries.first(where: { $0.path == name || $0.path.hasSuffix("/" + name) }) else { return }
        guard let input = FileHandle(forReadingAtPath: path) else { throw DebianImportError("cannot read \(path)") }
        defer { try? input.close() }
        var hash = SHA256()
        do {
            while let data = try input.read(upToCount: 1 << 20), !data.isEmpty { hash.update(data: data) }
        } catch {
            throw DebianImportError("cannot read \(path): \(error.localizedDescription)")
        }
        let actual = hex(hash.finalize())
        guard actual == entry.sha256 else {
            throw DebianImportError("checksum mismatch for \(name): \(file) says \(entry.sha256), the archive is \(actual) (corrupt or tampered download?); nothing was unpacked")
        }
    }

    /// Checks every listed file; true when at least one was listed and all listed match.
    func verify(_ files: [(path: String, sha256: String)]) throws(DebianImportError) -> Bool {
        var matched = 0
        for file in files {
            guard let entry = entries.first(where: { $0.path == file.path || $0.path.hasSuffix("/" + file.path) }) else { continue }
            guard entry.sha256 == file.sha256 else {
                throw DebianImportError("checksum mismatch for \(file.path): \(self.file) says \(entry.sha256), the file is \(file.sha256) (corrupt or tampered download?)")
            }
            matched += 1
        }
        guard matched > 0 else {
            throw DebianImportError("\(file) lists none of the imported files (\(files.map(\.path).joined(separator: ", ")))")
        }
        return true
    }
}
