import Foundation
import Testing
import FileJail
import NetworkAddresses
@testable import TFTP

@Suite("TFTP root jail")
struct PathJailTests {
    /// A root with a file, a sub-folder, links that stay inside and links that leave.
    final class Tree {
        let base: String
        var root: String { base + "/root" }
        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-jail-\(UUID().uuidString)").path
            let fm = FileManager.default
            try fm.createDirectory(atPath: root + "/debian-installer/amd64", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
            try fm.createDirectory(atPath: base + "/trusted", withIntermediateDirectories: true)
            _ = fm.createFile(atPath: root + "/debian-installer/amd64/pxelinux.0", contents: Data("pxe".utf8))
            _ = fm.createFile(atPath: base + "/outside/secret", contents: Data("secret".utf8))
            _ = fm.createFile(atPath: base + "/trusted/ipxe.efi", contents: Data("efi".utf8))
            try fm.createSymbolicLink(atPath: root + "/pxelinux.0", withDestinationPath: "debian-installer/amd64/pxelinux.0")
            try fm.createSymbolicLink(atPath: root + "/escape", withDestinationPath: "../outside/secret")
            try fm.createSymbolicLink(atPath: root + "/absolute", withDestinationPath: base + "/outside/secret")
            try fm.createSymbolicLink(atPath: root + "/outdir", withDestinationPath: base + "/outside")
            try fm.createSymbolicLink(atPath: root + "/ipxe.efi", withDestinationPath: base + "/trusted/ipxe.efi")
            mkfifo(root + "/fifo", 0o644)
        }
        deinit { try? FileManager.default.removeItem(atPath: base) }
    }

    static func normalized(_ name: String) -> String? {
        if case .success(let s) = TFTPName.relativePath(Array(name.utf8)) { return s }
        return nil
    }

    static func refusal(_ name: [UInt8]) -> TFTPErrorCode? {
        if case .failure(let r) = TFTPName.relativePath(name) { return r.code }
        return nil
    }

    @Test("names are made relative: leading slashes dropped, backslashes are slashes, '.' and '//' vanish")
    func normalize() {
        #expect(Self.normalized("/pxelinux.0") == "pxelinux.0")
        #expect(Self.normalized("//boot\\grub\\grub.cfg") == "boot/grub/grub.cfg")
        #expect(Self.normalized("./a//b/./c") == "a/b/c")
    }

    @Test("'..', NUL bytes, over-long and empty names are access violations")
    func refusedNames() {
        #expect(Self.refusal(Array("../etc/passwd".utf8)) == .accessViolation)
        #expect(Self.refusal(Array("a/../../b".utf8)) == .accessViolation)
        #expect(Self.refusal(Array("a\\..\\b".utf8)) == .accessViolation)
        #expect(Self.refusal(Array("ok\0../x".utf8)) == .accessViolation)
        #expect(Self.refusal([UInt8](repeating: UInt8(ascii: "a"), count: 256)) == .accessViolation)
        #expect(Self.refusal(Array("/".utf8)) == .accessViolation)
        #expect(Self.refusal([0xff, 0xfe]) == .accessViolation)
        #expect(Self.refusal([UInt8](repeating: UInt8(ascii: "a"), count: 255)) == nil)
    }

    @Test("links inside the root work; links leading out are refused unless the target is trusted")
    func symlinks() throws {
        let tree = try Tree()
        let jail = try #require(PathJail(root: tree.root))
        let cache = TFTPFileCache()
        /// The size opened, or the error code a client would get.
        func open(_ name: String, _ jail: PathJail) -> String {
            switch cache.open(name, in: jail) {
            case .success(let file): "\(file.size) bytes"
            case .failure(let refusal): "\(refusal.code)"
            }
        }
        #expect(open("pxelinux.0", jail) == "3 bytes")
        #expect(open("escape", jail) == "access-violation")
        #expect(open("absolute", jail) == "access-violation")
        #expect(open("outdir/secret", jail) == "access-violation")
        #expect(open("ipxe.efi", jail) == "access-violation")
        #expect(open("missing", jail) == "file-not-found")
        #expect(open("debian-installer", jail) == "file-not-found")
        #expect(open("fifo", jail) == "access-violation")
        let trusting = try #require(PathJail(root: tree.root, trustedLinkTargets: [tree.base + "/trusted"]))
        #expect(open("ipxe.efi", trusting) == "3 bytes")
        #expect(open("escape", trusting) == "access-violation")
    }

    @Test("one descriptor serves every reader; a replaced file is reopened")
    func cache() throws {
        let tree = try Tree()
        let jail = try #require(PathJail(root: tree.root))
        let cache = TFTPFileCache()
        let a = try cache.open("pxelinux.0", in: jail).get()
        let b = try cache.open("/pxelinux.0", in: jail).get()
        #expect(a === b)
        #expect(cache.openCount == 1)
        let path = tree.root + "/debian-installer/amd64/pxelinux.0"
        try FileManager.default.removeItem(atPath: path)
        _ = FileManager.default.createFile(atPath: path, contents: Data("newer".utf8))
        let c = try cache.open("pxelinux.0", in: jail).get()
        #expect(c !== a)
        #expect(c.size == 5)
        var buffer = [UInt8](repeating: 0, count: 5)
        #expect(try c.read(into: &buffer, at: 0) == 5)
        #expect(buffer == Array("newer".utf8))
        // The old descriptor still reads the old bytes for a transfer that holds it.
        var old = [UInt8](repeating: 0, count: 3)
        #expect(try a.read(into: &old, at: 0) == 3)
        #expect(old == Array("pxe".utf8))
    }

    @Test("hidden names are refused over TFTP as over HTTP")
    func hidden() {
        #expect(Self.refusal(Array(".hidden".utf8)) == .accessViolation)
        #expect(Self.refusal(Array("/boot/.git/config".utf8)) == .accessViolation)
        #expect(Self.normalized("./boot/x") == "boot/x")
    }
}
