import Crypto
import Foundation
@testable import Images
import Testing

/// Debian 13's netboot tree, as scripts/fetch-debian13-netboot.sh unpacks it from
/// `debian-installer-13-netboot-amd64` (make deps-test runs it): kernel, initrd and the
/// signed chain for Secure Boot PCs (shim `bootnetx64.efi`, GRUB `grubx64.efi`, and the four
/// module lists GRUB reads as it starts), all copied and checksummed in image.json, from the
/// tree and from a netboot.tar.gz of it.
@Suite("import debian 13")
struct Debian13ImportTests {
    static let tree = "/var/cache/garage-pxe/debian-13-netboot/root/usr/lib/debian-installer/images/13/amd64/text"
    static var fetched: Bool { FileManager.default.fileExists(atPath: tree + "/debian-installer/amd64/grubx64.efi") }
    static let files = ["linux", "initrd.gz", "bootnetx64.efi", "grubx64.efi", "grub/x86_64-efi/command.lst",
                        "grub/x86_64-efi/crypto.lst", "grub/x86_64-efi/fs.lst", "grub/x86_64-efi/terminal.lst"]

    static func sha256(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func check(_ image: ImageRecord) throws {
        #expect(image.name == "debian-13-amd64")
        #expect(image.metadata.release == "13")
        #expect(image.metadata.installerBuild?.hasPrefix("2025") == true)
        #expect(Set(image.metadata.files.keys) == Set(files))
        for name in files {
            let original = tree + "/debian-installer/amd64/" + name
            #expect(FileManager.default.contentsEqual(atPath: image.directory + "/" + name, andPath: original), "\(name) copied as is")
            #expect(image.metadata.files[name]?.sha256 == (try sha256(original)), "\(name)'s SHA-256 in image.json")
        }
    }

    @Test("from the package tree: kernel, initrd, signed shim, GRUB and its module lists", .enabled(if: fetched, "needs scripts/fetch-debian13-netboot.sh (make deps-test runs it)"))
    func fromTree() throws {
        let scratch = try DebianImportTests.Scratch()
        let image = try DebianImport(source: Self.tree, imagesDirectory: scratch.path("images")).run()
        try Self.check(image)
        let (listed, problems) = ImageCatalogue.load(directory: scratch.path("images"))
        #expect(problems.isEmpty && listed == [image])
    }

    @Test("from a netboot.tar.gz of it, checked against a SHA256SUMS", .enabled(if: fetched, "needs scripts/fetch-debian13-netboot.sh (make deps-test runs it)"))
    func fromArchive() throws {
        let scratch = try DebianImportTests.Scratch()
        let archive = scratch.path("netboot.tar.gz")
        try DebianImportTests.shell("tar -czf '\(archive)' -C '\(Self.tree)' .")
        try DebianImportTests.sha256sums(of: ["netboot.tar.gz"], in: scratch.url.path, to: scratch.path("SHA256SUMS"))
        let image = try DebianImport(source: archive, imagesDirectory: scratch.path("images"), sha256sumsFile: scratch.path("SHA256SUMS")).run()
        try Self.check(image)
        #expect(image.metadata.verifiedAgainstSHA256SUMS)
    }
}
