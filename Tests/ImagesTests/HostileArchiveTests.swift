import Crypto
import Foundation
@testable import Images
import Testing

/// Archives made to hurt the importer: sizes with a sign, negative or oversized base-256
/// numbers, pax records whose length lies, a file claiming a terabyte, a gzip bomb, a
/// tampered archive listed in SHA256SUMS. Each gives an error; none traps, none writes.
@Suite("import debian: hostile archives")
struct HostileArchiveTests {
    /// A ustar header block with a valid checksum; `size` is the raw 12-byte field.
    static func header(name: String, type: Character = "0", size: [UInt8]) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        block.replaceSubrange(0..<name.utf8.count, with: Array(name.utf8))
        block.replaceSubrange(100..<108, with: Array("0000644\0".utf8))
        block.replaceSubrange(124..<136, with: size + [UInt8](repeating: 0, count: 12 - size.count))
        block[156] = type.asciiValue!
        block.replaceSubrange(257..<265, with: Array("ustar\000".utf8))
        let sum = block.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
        let text = Array(String(sum, radix: 8).leftPadded(to: 6).utf8) + [0, 32]
        block.replaceSubrange(148..<156, with: text)
        return block
    }

    static func octal(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Reads every entry; the first error ends it. A trap would end the test process.
    static func readAll(_ bytes: [UInt8]) -> Result<[TarEntry], Error> {
        var reader = TarReader(MemoryByteSource(bytes))
        var entries: [TarEntry] = []
        do {
            while let entry = try reader.next() {
                entries.append(entry)
                while !(try reader.readData(upTo: 4096)).isEmpty {}
            }
            return .success(entries)
        } catch {
            return .failure(error)
        }
    }

    @Test("sizes with a sign, negative or too large: an error, never a trap", arguments: [
        octal("-1"), octal("-0000001"), octal("+17"), octal("00000000001-"), octal("0x10"), octal("9"),
        [0xff] + [UInt8](repeating: 0xff, count: 11),  // base-256 -1
        [0xc0] + [UInt8](repeating: 0, count: 11),  // base-256, sign bit set
        [0x80, 0x7f] + [UInt8](repeating: 0xff, count: 10),  // base-256 far past Int64
    ])
    func badSizes(size: [UInt8]) throws {
        for type: Character in ["0", "L", "x"] {
            let archive = Self.header(name: "debian-installer/amd64/linux", type: type, size: size) + [UInt8](repeating: 0, count: 1024)
            guard case .failure(let error) = Self.readAll(archive) else {
                Issue.record("size \(size) of a '\(type)' entry was accepted")
                continue
            }
            #expect(error is TarError, "\(error)")
        }
    }

    @Test("base-256 and space-padded octal sizes that are valid still read")
    func goodSizes() throws {
        let data = [UInt8](repeating: 0x41, count: 700)
        for size in [Self.octal("1274"), Self.octal("  1274 "), [0x80] + [UInt8](repeating: 0, count: 9) + [0x02, 0xbc]] {
            let archive = Self.header(name: "a", size: size) + data + [UInt8](repeating: 0, count: 324 + 1024)
            let entries = try Self.readAll(archive).get()
            #expect(entries == [TarEntry(path: "a", kind: .file, size: 700)])
        }
    }

    @Test("pax records whose length lies are ignored, never sliced out of bounds", arguments: [
        "1 path=x\n", "0 path=x\n", "3 path=x\n", "9 path=x", "-5 path=x\n", "99999999999999999999 path=x\n",
        "+12 path=abc\n", " 12 path=abc\n", "\n", "",
    ])
    func lyingPaxRecords(records: String) throws {
        #expect(TarReader<MemoryByteSource>.paxPath(Array(records.utf8)) == nil)
        // And through the reader: the entry keeps its own name.
        let pax = Array(records.utf8)
        let padded = pax + [UInt8](repeating: 0, count: (512 - pax.count % 512) % 512)
        let archive = Self.header(name: "pax", type: "x", size: Self.octal(String(pax.count, radix: 8))) + padded
            + Self.header(name: "plain", size: Self.octal("0")) + [UInt8](repeating: 0, count: 1024)
        #expect(try Self.readAll(archive).get().map(\.path) == ["plain"])
    }

    @Test("fuzz-tar's finding: a pax record of length 2 (Tests/Fixtures/fuzz/tar-pax-short-record.bin)")
    func fuzzFinding() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/tar-pax-short-record.bin")
        let bytes = [UInt8](try Data(contentsOf: url))
        #expect(TarReader<MemoryByteSource>.paxPath(bytes) == nil)
        #expect(throws: TarError.self) { try Self.readAll(bytes).get() }
    }

    @Test("a well-formed pax path still names the entry")
    func goodPaxRecord() {
        #expect(TarReader<MemoryByteSource>.paxPath(Array("12 path=abc\n".utf8)) == "abc")
        #expect(TarReader<MemoryByteSource>.paxPath(Array("9 a=bcde\n12 path=xyz\n".utf8)) == "xyz")
    }

    // MARK: The importer on hostile archives

    final class Scratch {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-hostile-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    }

    /// gzip of `bytes`, by Debian's gzip.
    static func gzip(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + ".raw"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "gzip -c '\(path).raw' > '\(path)' && rm '\(path).raw'"]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
    }

    static func images(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test("an archive whose kernel claims a terabyte is refused before anything is written")
    func claimsATerabyte() throws {
        let scratch = try Scratch()
        let terabyte: [UInt8] = [0x80] + [UInt8](repeating: 0, count: 5) + [0x01] + [UInt8](repeating: 0, count: 5)
        let archive = Self.header(name: "debian-installer/amd64/linux", size: terabyte) + [UInt8](repeating: 0, count: 4096)
        try Self.gzip(archive, to: scratch.path("netboot.tar.gz"))
        #expect {
            try DebianImport(source: scratch.path("netboot.tar.gz"), imagesDirectory: scratch.path("images")).run()
        } throws: { "\($0)".contains("more than an installer's") }
        #expect(Self.images(in: scratch.path("images")).isEmpty)
    }

    @Test("a gzip bomb stops at the unpacked-size bound")
    func gzipBomb() throws {
        let scratch = try Scratch()
        // 64 MiB of zeros is a valid (empty) tar stream; compressed, about 64 KiB.
        try Self.gzip([UInt8](repeating: 0, count: 64 << 20), to: scratch.path("bomb.tar.gz"))
        var importer = DebianImport(source: scratch.path("bomb.tar.gz"), imagesDirectory: scratch.path("images"))
        importer.maximumUnpackedBytes = 16 << 20
        #expect {
            try importer.run()
        } throws: { "\($0)".contains("unpacks to more than 16 MiB") }
        #expect(Self.images(in: scratch.path("images")).isEmpty)
    }

    @Test("an archive listed in SHA256SUMS is checked whole before it is parsed")
    func checksumBeforeParsing() throws {
        let scratch = try Scratch()
        // A hostile tar (negative size) behind a checksum that does not match: the
        // checksum's error, since the tar reader never sees a byte.
        let archive = Self.header(name: "debian-installer/amd64/linux", size: Self.octal("-1")) + [UInt8](repeating: 0, count: 1024)
        try Self.gzip(archive, to: scratch.path("netboot.tar.gz"))
        try "\(String(repeating: "ab", count: 32))  ./netboot/netboot.tar.gz\n".write(toFile: scratch.path("SHA256SUMS"), atomically: true, encoding: .utf8)
        #expect {
            try DebianImport(source: scratch.path("netboot.tar.gz"), imagesDirectory: scratch.path("images"),
                             sha256sumsFile: scratch.path("SHA256SUMS")).run()
        } throws: { "\($0)".contains("nothing was unpacked") }
        // Without the list, the tar reader's own error (not a trap).
        #expect {
            try DebianImport(source: scratch.path("netboot.tar.gz"), imagesDirectory: scratch.path("images")).run()
        } throws: { "\($0)".contains("bad number '-1'") }
        #expect(Self.images(in: scratch.path("images")).isEmpty)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
