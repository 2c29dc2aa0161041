import Foundation
@testable import Images
import Testing

/// Imports from the real `debian-installer-12-netboot-amd64` package tree and from
/// netboot.tar.gz archives built here from it with GNU tar.
@Suite("import debian")
struct DebianImportTests {
    static let tree = "/usr/lib/debian-installer/images/12/amd64/text"
    static var installed: Bool { FileManager.default.fileExists(atPath: tree + "/debian-installer/amd64/linux") }

    /// A scratch folder removed at the end of each test.
    final class Scratch {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-import-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    }

    static func shell(_ command: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ShellFailed(command: command) }
    }
    struct ShellFailed: Error { var command: String }

    /// "HEX  ./debian-installer/amd64/linux" lines, as sha256sum writes them.
    static func sha256sums(of files: [String], in folder: String, to output: String) throws {
        try shell("cd '\(folder)' && sha256sum \(files.map { "'./\($0)'" }.joined(separator: " ")) > '\(output)'")
    }

    static func images(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test("from the package tree, checked against a SHA256SUMS; listed by the catalogue", .enabled(if: installed, "needs debian-installer-12-netboot-amd64 (make deps-test installs it)"))
    func fromTree() throws {
        let scratch = try Scratch()
        try Self.sha256sums(of: ["debian-installer/amd64/linux", "debian-installer/amd64/initrd.gz"], in: Self.tree, to: scratch.path("SHA256SUMS"))
        let image = try DebianImport(source: Self.tree, imagesDirectory: scratch.path("images"), sha256sumsFile: scratch.path("SHA256SUMS")).run()
        #expect(image.name == "debian-12-amd64")
        #expect(image.metadata.release == "12")
        #expect(image.metadata.architecture == "amd64")
        #expect(image.metadata.installerBuild?.hasPrefix("20230607") == true)
        #expect(image.metadata.verifiedAgainstSHA256SUMS)
        for name in ["linux", "initrd.gz"] {
            #expect(FileManager.default.contentsEqual(atPath: image.directory + "/" + name, andPath: Self.tree + "/debian-installer/amd64/" + name))
        }
        let (listed, problems) = ImageCatalogue.load(directory: scratch.path("images"))
        #expect(problems.isEmpty)
        #expect(listed == [image])
        // The same tree by its other spellings: the arch folder and the flavour's parent.
        for source in [Self.tree + "/debian-installer/amd64", "/usr/lib/debian-installer/images/12/amd64"] {
            let again = try DebianImport(source: source, imagesDirectory: scratch.path("images"), name: "again").run()
            #expect(again.metadata.files == image.metadata.files)
            #expect(again.metadata.release == "12")
        }
        #expect(Self.images(in: scratch.path("images")) == ["again", "debian-12-amd64"], "no staging folder left behind")
    }

    @Test("from a netboot.tar.gz (GNU and pax formats), streamed; the archive's own checksum counts", .enabled(if: installed, "needs debian-installer-12-netboot-amd64 (make deps-test installs it)"),
          arguments: ["gnu", "pax"])
    func fromArchive(format: String) throws {
        let scratch = try Scratch()
        let archive = scratch.path("netboot.tar.gz")
        try Self.shell("tar --format=\(format) -czf '\(archive)' -C '\(Self.tree)' .")
        try Self.sha256sums(of: ["netboot.tar.gz"], in: scratch.url.path, to: scratch.path("SHA256SUMS"))
        let image = try DebianImport(source: archive, imagesDirectory: scratch.path("images"), sha256sumsFile: scratch.path("SHA256SUMS")).run()
        #expect(image.name == "debian-12-amd64")
        #expect(image.metadata.installerBuild?.hasPrefix("20230607") == true)
        #expect(image.metadata.verifiedAgainstSHA256SUMS)
        for name in ["linux", "initrd.gz"] {
            #expect(FileManager.default.contentsEqual(atPath: image.directory + "/" + name, andPath: Self.tree + "/debian-installer/amd64/" + name))
        }
    }

    @Test("a corrupted file fails its checksum and leaves nothing behind", .enabled(if: installed, "needs debian-installer-12-netboot-amd64 (make deps-test installs it)"))
    func corruptedTree() throws {
        let scratch = try Scratch()
        try Self.sha256sums(of: ["debian-installer/amd64/linux", "debian-installer/amd64/initrd.gz"], in: Self.tree, to: scratch.path("SHA256SUMS"))
        try Self.shell("cp -a '\(Self.tree)' '\(scratch.path("copy"))'")
        // One byte changed in the middle of the initrd.
        let initrd = scratch.path("copy/debian-installer/amd64/initrd.gz")
        let handle = try #require(FileHandle(forUpdatingAtPath: initrd))
        try handle.seek(toOffset: 20_000_000)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: 20_000_000)
        try handle.write(contentsOf: [byte ^ 0xff])
        try handle.close()
        #expect {
            try DebianImport(source: scratch.path("copy"), imagesDirectory: scratch.path("images"), sha256sumsFile: scratch.path("SHA256SUMS")).run()
        } throws: { error in
            "\(error)".hasPrefix("checksum mismatch for debian-installer/amd64/initrd.gz:")
        }
        #expect(Self.images(in: scratch.path("images")).isEmpty)
    }

    @Test("a damaged archive is refused (zlib or tar error, or the archive's checksum)", .enabled(if: installed, "needs debian-installer-12-netboot-amd64 (make deps-test installs it)"))
    func corruptedArchive() throws {
        let scratch = try Scratch()
        let archive = scratch.path("netboot.tar.gz")
        try Self.shell("tar -czf '\(archive)' -C '\(Self.tree)' .")
        try Self.sha256sums(of: ["netboot.tar.gz"], in: scratch.url.path, to: scratch.path("SHA256SUMS"))
        let handle = try #require(FileHandle(forUpdatingAtPath: archive))
        try handle.seek(toOffset: 30_000_000)
        try handle.write(contentsOf: [0x00, 0xff, 0x00, 0xff])
        try handle.close()
        #expect(throws: DebianImportError.self) {
            try DebianImport(source: archive, imagesDirectory: scratch.path("images"), sha256sumsFile: scratch.path("SHA256SUMS")).run()
        }
        // Without a SHA256SUMS, gzip's own CRC still catches it.
        #expect(throws: DebianImportError.self) {
            try DebianImport(source: archive, imagesDirectory: scratch.path("images")).run()
        }
        // Truncated archives too.
        try Self.shell("head -c 10000000 '\(archive)' > '\(scratch.path("short.tar.gz"))'")
        #expect(throws: DebianImportError.self) {
            try DebianImport(source: scratch.path("short.tar.gz"), imagesDirectory: scratch.path("images")).run()
        }
        #expect(Self.images(in: scratch.path("images")).isEmpty)
    }

    @Test("sources that are not a netboot installer, and SHA256SUMS that list nothing imported")
    func wrongInputs() throws {
        let scratch = try Scratch()
        try Self.shell("mkdir -p '\(scratch.path("empty"))' && echo hello | gzip > '\(scratch.path("hello.gz"))'")
        try "0000000000000000000000000000000000000000000000000000000000000000  ./other\n".write(toFile: scratch.path("SUMS"), atomically: true, encoding: .utf8)
        for source in [scratch.path("empty"), scratch.path("hello.gz"), scratch.path("absent")] {
            #expect(throws: DebianImportError.self) { try DebianImport(source: source, imagesDirectory: scratch.path("images")).run() }
        }
        if Self.installed {
            #expect {
                try DebianImport(source: Self.tree, imagesDirectory: scratch.path("images"), sha256sumsFile: scratch.path("SUMS")).run()
            } throws: { "\($0)".contains("lists none of the imported files") }
            #expect(throws: DebianImportError.self) {
                try DebianImport(source: Self.tree, imagesDirectory: scratch.path("images"), name: "../escape").run()
            }
        }
        #expect(Self.images(in: scratch.path("images")).isEmpty)
    }
}
