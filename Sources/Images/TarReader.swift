// Reads a tar archive (ustar, with GNU long names and pax path records) one entry at a
// time from a stream: the caller sees each entry's header, then pulls or skips its data.
// Only what an installer archive needs; nothing is extracted unless asked for.

import Foundation

struct TarError: Error, Equatable, CustomStringConvertible {
    var description: String
}

struct TarEntry: Equatable {
    enum Kind: Equatable { case file, directory, symlink, other }
    var path: String
    var kind: Kind
    var size: Int64
}

struct TarReader<Source: ByteSource> {
    private var source: Source
    private var pending: [UInt8] = []
    /// Data bytes of the current entry not yet consumed, then its padding.
    private var remaining: Int64 = 0
    private var padding: Int64 = 0

    init(_ source: Source) { self.source = source }

    /// The next entry, or nil at the end of the archive. Unread data of the previous
    /// entry is skipped.
    mutating func next() throws -> TarEntry? {
        try skipRest()
        var longName: String?
        while true {
            let header = try readExactly(512)
            if header.count < 512 {
                // Archives normally end with zero blocks, but a bare end is accepted.
                if header.isEmpty { return nil }
                throw TarError(description: "the archive ends inside a header")
            }
            if header.allSatisfy({ $0 == 0 }) { return nil }
            try verifyChecksum(header)
            let size = try Self.number(header[124..<136])
            let type = header[156]
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "x"), UInt8(ascii: "g"):
                // Metadata for the next entry: its long name, or pax records.
                guard size <= 64 * 1024 else { throw TarError(description: "oversized tar metadata (\(size) bytes)") }
                let data = try readExactly(Int(size))
                _ = try readExactly(Int((512 - size % 512) % 512))
                if type == UInt8(ascii: "L") {
                    longName = Self.cString(data[...])
                } else if type == UInt8(ascii: "x"), let path = Self.paxPath(data) {
                    longName = path
                }
                continue
            default:
                break
            }
            var path = longName ?? Self.cString(header[0..<100])
            let prefix = Self.cString(header[345..<500])
            if longName == nil, !prefix.isEmpty, header[257..<262].elementsEqual("ustar".utf8) { path = prefix + "/" + path }
            while path.hasPrefix("./") { path.removeFirst(2) }
            let kind: TarEntry.Kind = switch type {
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): .file
            case UInt8(ascii: "5"): .directory
            case UInt8(ascii: "2"): .symlink
            default: .other
            }
            // Only regular files carry data in the stream that we count on.
            let dataSize = kind == .file || kind == .other ? size : 0
            remaining = dataSize
            padding = (512 - dataSize % 512) % 512
            return TarEntry(path: path, kind: kind, size: dataSize)
        }
    }

    /// Up to `count` bytes of the current entry's data; empty when it is all read.
    mutating func readData(upTo count: Int) throws -> [UInt8] {
        guard remaining > 0 else { return [] }
        let want = Int(min(Int64(count), remaining))
        let bytes = try readExactly(want)
        guard bytes.count == want else { throw TarError(description: "the archive ends inside a file") }
        remaining -= Int64(want)
        return bytes
    }

    private mutating func skipRest() throws {
        while remaining > 0 { _ = try readData(upTo: 64 * 1024) }
        if padding > 0 {
            _ = try readExactly(Int(padding))
            padding = 0
        }
    }

    private mutating func readExactly(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            let more = try source.read(upTo: max(count - pending.count, 64 * 1024))
            if more.isEmpty { break }
            pending += more
        }
        let n = min(count, pending.count)
        let out = Array(pending[0..<n])
        pending.removeFirst(n)
        return out
    }

    private func verifyChecksum(_ header: [UInt8]) throws {
        let stored = try Self.number(header[148..<156])
        var sum: Int64 = 0
        for (i, byte) in header.enumerated() { sum += (148..<156).contains(i) ? 32 : Int64(byte) }
        guard sum == stored else { throw TarError(description: "tar header checksum mismatch (corrupt archive?)") }
    }

    /// Octal text, or GNU base-256 when the high bit of the first byte is set. Only what a
    /// size or checksum can be: digits alone (Swift's Int64(_:radix:) would take a sign,
    /// and a size of -1 would reach the slicing below), a positive base-256 value that fits.
    static func number(_ field: ArraySlice<UInt8>) throws -> Int64 {
        if let first = field.first, first & 0x80 != 0 {
            // Bit 6 set: a negative number in two's complement, never a valid size.
            guard first & 0x40 == 0 else { throw TarError(description: "negative base-256 number in a tar header") }
            var value = Int64(first & 0x3f)
            for byte in field.dropFirst() {
                guard value <= (Int64.max >> 8) else { throw TarError(description: "base-256 number too large in a tar header") }
                value = (value << 8) | Int64(byte)
            }
            return value
        }
        // Up to the first NUL, without the spaces that pad it on either side.
        let text = field.prefix { $0 != 0 }
        let space = UInt8(ascii: " ")
        guard let first = text.firstIndex(where: { $0 != space }), let last = text.lastIndex(where: { $0 != space }) else { return 0 }
        var value: Int64 = 0
        for byte in text[first...last] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) else {
                throw TarError(description: "bad number '\(String(decoding: text, as: UTF8.self))' in a tar header")
            }
            guard value <= (Int64.max >> 3) else { throw TarError(description: "number too large in a tar header") }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    static func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The `path` record of pax extended-header data ("LEN path=VALUE\n" records, LEN
    /// counting the whole record). Parsing stops at the first record that is not well formed:
    /// its length must cover "LEN " and the final newline, and fit in what is left.
    static func paxPath(_ data: [UInt8]) -> String? {
        var rest = data[...]
        while let space = rest.firstIndex(of: UInt8(ascii: " ")),
              rest[rest.startIndex..<space].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)),
              length > space - rest.startIndex + 1, rest.count >= length,
              rest[rest.startIndex + length - 1] == UInt8(ascii: "\n") {
            let record = rest[rest.index(after: space)..<(rest.startIndex + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")), String(decoding: record[record.startIndex..<eq], as: UTF8.self) == "path" {
                return String(decoding: record[record.index(after: eq)...], as: UTF8.self)
            }
            rest = rest[(rest.startIndex + length)...]
        }
        return nil
    }
}
