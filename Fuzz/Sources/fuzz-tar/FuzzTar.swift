// One input = a netboot archive as an admin may have downloaded it, from anywhere: a tar
// stream, or (when it starts with gzip's magic) a .tar.gz read from a file through zlib,
// as `garage-pxe import debian` reads it. What must hold: every entry has a size of zero
// or more; reading ends with entries or an error, never a trap; no more is read than the
// unpacked-size bound allows; pax records never slice past their data.
import Foundation
import Images

/// The bound for one input: what a small input may unpack to before the reader must stop.
let unpackedBound: Int64 = 4 << 20

func readEntries<S: ByteSource>(_ source: S) {
    var reader = TarReader(source)
    var read = 0
    do {
        while let entry = try reader.next() {
            precondition(entry.size >= 0, "an entry with a negative size")
            while case let chunk = try reader.readData(upTo: 64 * 1024), !chunk.isEmpty {
                read += chunk.count
                precondition(Int64(read) <= unpackedBound, "read past the unpacked-size bound")
            }
        }
    } catch {
        // An error is a fine answer to a hostile archive.
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = TarReader<MemoryByteSource>.paxPath(bytes)
    if bytes.starts(with: [0x1f, 0x8b]) {
        let path = NSTemporaryDirectory() + "/fuzz-tar-\(getpid()).tar.gz"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return 0 }
        defer { unlink(path) }
        guard let gzip = try? GzipFileReader(path: path) else { return 0 }
        readEntries(BoundedSource(gzip, limit: unpackedBound))
    } else {
        readEntries(MemoryByteSource(bytes))
    }
    return 0
}
