// gzip decompression through zlib, as a stream: compressed bytes are read from a file in
// fixed-size chunks and handed out decompressed in chunks too, so a 40 MB netboot.tar.gz
// never sits in memory.

import CZlib
import Foundation

public struct GzipError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
}

/// A source of bytes read front to back.
protocol ByteSource {
    /// Up to `count` bytes; empty only at the end.
    mutating func read(upTo count: Int) throws -> [UInt8]
}

/// Bytes already in memory, read front to back (small archives, tests, the fuzz target).
struct MemoryByteSource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func read(upTo count: Int) throws -> [UInt8] {
        let n = min(count, bytes.count - offset)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }
}

/// Passes another source's bytes through, and fails once more than `limit` have passed.
/// A class, so that every reader of one stream shares the count.
final class BoundedSource<Source: ByteSource>: ByteSource {
    private var source: Source
    private let limit: Int64
    private var passed: Int64 = 0

    init(_ source: Source, limit: Int64) {
        self.source = source
        self.limit = limit
    }

    func read(upTo count: Int) throws -> [UInt8] {
        let bytes = try source.read(upTo: count)
        passed += Int64(bytes.count)
        guard passed <= limit else { throw GzipError(description: "the archive unpacks to more than \(limit >> 20) MiB") }
        return bytes
    }
}

final class GzipFileReader: ByteSource {
    private var stream = z_stream()
    private let input: FileHandle
    private var inputBuffer: [UInt8] = []
    private var inputOffset = 0
    private var finished = false
    private let chunk: Int
    /// Every compressed byte read, for the archive's own checksum.
    private let onCompressedBytes: ([UInt8]) -> Void

    init(path: String, chunk: Int = 64 * 1024, onCompressedBytes: @escaping ([UInt8]) -> Void = { _ in }) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw GzipError(description: "cannot open \(path)") }
        input = handle
        self.chunk = chunk
        self.onCompressedBytes = onCompressedBytes
        // 15 + 16: gzip framing only (not raw deflate, not zlib), full window.
        let status = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw GzipError(description: "zlib initialisation failed (\(status))") }
    }

    deinit {
        inflateEnd(&stream)
        try? input.close()
    }

    func read(upTo count: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        var produced = 0
        while produced == 0 && !finished {
            if inputOffset == inputBuffer.count {
                let data = try input.read(upToCount: chunk) ?? Data()
                if data.isEmpty {
                    // Input ended inside a gzip member.
                    throw GzipError(description: "the archive is truncated")
                }
                inputBuffer = [UInt8](data)
                inputOffset = 0
                onCompressedBytes(inputBuffer)
            }
            let available = inputBuffer.count - inputOffset
            let status: Int32 = inputBuffer.withUnsafeMutableBufferPointer { input in
                output.withUnsafeMutableBufferPointer { out in
                    stream.next_in = input.baseAddress! + inputOffset
                    stream.avail_in = UInt32(available)
                    stream.next_out = out.baseAddress! + produced
                    stream.avail_out = UInt32(count - produced)
                    return inflate(&stream, Z_NO_FLUSH)
                }
            }
            inputOffset += available - Int(stream.avail_in)
            produced = count - Int(stream.avail_out)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                // Another gzip member may follow (concatenated archives are valid gzip).
                if try inputOffset < inputBuffer.count || !atEndOfInput() {
                    inflateReset(&stream)
                } else {
                    finished = true
                }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw GzipError(description: "the archive is corrupt (zlib: \(message))")
            }
        }
        return Array(output[0..<produced])
    }

    private func atEndOfInput() throws -> Bool {
        let data = try input.read(upToCount: chunk) ?? Data()
        guard !data.isEmpty else { return true }
        inputBuffer = [UInt8](data)
        inputOffset = 0
        onCompressedBytes(inputBuffer)
        return false
    }
}
