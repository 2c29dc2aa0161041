import Foundation
import Testing
import FileJail

@Suite("The one file jail TFTP and HTTP share")
struct FileJailTests {
    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-filejail-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func file(_ name: String, _ text: String) {
            #expect(FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8)))
        }
        func folder(_ name: String) throws {
            try FileManager.default.createDirectory(atPath: path + "/" + name, withIntermediateDirectories: true)
        }
        func link(_ name: String, to target: String) throws {
            try FileManager.default.createSymbolicLink(atPath: path + "/" + name, withDestinationPath: target)
        }
    }

    static func refusal(_ components: [String]) -> JailRefusal? {
        if case .failure(let r) = PathJail.relativePath(components) { return r }
        return nil
    }

    @Test("hidden names are refused like '..': editor swap files, .git, keys never leave the folder",
          arguments: [[".hidden"], ["sub", ".git", "config"], [".menu.yaml.swp"], [".."], ["."], ["a", "..", "b"]])
    func dotNames(components: [String]) {
        guard case .badName = Self.refusal(components) else {
            Issue.record("\(components) was not refused as a bad name")
            return
        }
    }

    @Test("empty parts, separators inside a part and NUL are refused; ordinary names pass")
    func otherNames() throws {
        for bad in [[], [""], ["a", ""], ["a/b"], ["a\\b"], ["ok\0x"]] as [[String]] {
            guard case .badName = Self.refusal(bad) else { Issue.record("\(bad) was not refused"); continue }
        }
        #expect(try PathJail.relativePath(["debian-installer", "amd64", "linux"]).get() == "debian-installer/amd64/linux")
        #expect(try PathJail.relativePath(["a.b", "file.with.dots"]).get() == "a.b/file.with.dots")
    }

    @Test("files inside, links that stay inside, trusted link targets; nothing else")
    func opening() throws {
        let scratch = try Scratch()
        try scratch.folder("root/sub")
        try scratch.folder("out")
        scratch.file("root/sub/a", "a\n")
        scratch.file("out/s", "s\n")
        scratch.file("root/.hidden", "h\n")
        try scratch.link("root/leak", to: "../out/s")
        try scratch.link("root/inside", to: "sub/a")
        try scratch.link("root/visible", to: ".hidden")
        #expect(mkfifo(scratch.path + "/root/fifo", 0o644) == 0)
        let root = scratch.path + "/root"
        let jail = try #require(PathJail(root: root))
        let trusting = try #require(PathJail(root: root, trustedLinkTargets: [scratch.path + "/out"]))
        #expect(try jail.open(["sub", "a"]).get().size == 2)
        #expect(try jail.open(["inside"]).get().size == 2)
        #expect(try trusting.open(["leak"]).get().size == 2)
        let refusals: [([String], JailRefusal)] = [
            (["leak"], .outsideRoot), (["sub"], .isDirectory), (["fifo"], .notARegularFile), (["nope"], .notFound),
        ]
        for (components, refusal) in refusals {
            #expect(throws: refusal) { try jail.open(components).get() }
        }
        // The rule is on names asked for: a visible link to a hidden file inside the root
        // is the admin's own choice, and is served.
        #expect(try jail.open(["visible"]).get().size == 2)
        #expect(PathJail(root: scratch.path + "/missing") == nil)
    }

    @Test("the descriptor reads what was opened, and tells a file that shrank")
    func reading() throws {
        let scratch = try Scratch()
        scratch.file("f", "hello world")
        let file = try PathJail(root: scratch.path)!.open(["f"]).get()
        var buffer = [UInt8](repeating: 0, count: 5)
        let n = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: 6).get() }
        #expect(n == 5)
        #expect(buffer == Array("world".utf8))
        #expect(truncate(scratch.path + "/f", 3) == 0)
        #expect(file.currentSize() == 3)
        #expect(file.size == 11)
    }
}
