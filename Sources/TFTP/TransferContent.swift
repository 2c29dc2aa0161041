// What a transfer sends: a file read with pread from a shared descriptor, or bytes the
// daemon generated (virtual files). Blocks are produced front to back, translated to
// netascii on the fly when asked, so no transfer ever holds a whole file.

#if canImport(Glibc)
import Glibc
#endif

public struct TFTPReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var errno: Int32
    public var description: String { "read error: \(String(cString: strerror(errno)))" }
}

/// Random-access bytes of a known size.
public protocol TFTPContent: Sendable {
    var size: Int { get }
    /// Copies up to `buffer.count` bytes from `offset`; returns how many (0 at the end).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(TFTPReadError) -> Int
}

/// Generated content held in memory (an iPXE script rendered for one machine).
public struct TFTPMemoryContent: TFTPContent {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var size: Int { bytes.count }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(TFTPReadError) -> Int {
        guard offset < bytes.count else { return 0 }
        let n = min(buffer.count, bytes.count - offset)
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        return n
    }
}

extension TFTPContent {
    /// `read` into `array` from index `start` on.
    func read(into array: inout [UInt8], from start: Int = 0, at offset: Int) throws(TFTPReadError) -> Int {
        let result = array.withUnsafeMutableBytes { raw in
            Result { () throws(TFTPReadError) -> Int in
                try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]), at: offset)
            }
        }
        return try result.get()
    }

    /// Size as the client receives it. netascii turns LF into CR LF and CR into CR NUL, so
    /// it costs one pass over the file; only clients asking tsize in netascii pay it.
    func transferSize(mode: TFTPMode) throws(TFTPReadError) -> Int {
        guard mode == .netascii else { return size }
        var total = 0
        var offset = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try read(into: &chunk, at: offset)
            if n == 0 { return total }
            total += n
            for byte in chunk[0..<n] where byte == 0x0a || byte == 0x0d { total += 1 }
            offset += n
        }
    }
}

/// Reads the content block after block, in the transfer mode.
struct BlockReader: Sendable {
    let content: any TFTPContent
    let mode: TFTPMode
    private var sourceOffset = 0
    /// netascii: the second byte of a CR LF or CR NUL pair that did not fit the last block.
    private var carried: UInt8?
    /// octet: bytes read ahead of the blocks sent, so a small blksize costs one pread per
    /// 32 KiB rather than one per block. One buffer for the whole transfer, refilled in
    /// place: `aheadCount` of its bytes are valid, from file offset `aheadStart`.
    private var ahead: [UInt8] = []
    private var aheadStart = 0
    private var aheadCount = 0
    static let readAheadBytes = 32 * 1024

    init(content: any TFTPContent, mode: TFTPMode) {
        self.content = content
        self.mode = mode
    }

    /// A DATA packet for `block` holding the next `blockSize` bytes (fewer at the end).
    mutating func nextPacket(block: UInt16, blockSize: Int) throws(TFTPReadError) -> [UInt8] {
        switch mode {
        case .octet:
            let (from, count) = try readAhead(blockSize: blockSize)
            sourceOffset += count
            // Made uninitialized and written once: this runs for every block sent.
            return [UInt8](unsafeUninitializedCapacity: 4 + count) { out, initialized in
                Self.writeHeader(block: block, into: UnsafeMutableRawBufferPointer(out))
                if count > 0 {
                    ahead.withUnsafeBytes { source in
                        UnsafeMutableRawPointer(out.baseAddress! + 4).copyMemory(from: source.baseAddress! + from, byteCount: count)
                    }
                }
                initialized = 4 + count
            }
        case .netascii:
            var packet = [UInt8](repeating: 0, count: 4 + blockSize)
            packet.withUnsafeMutableBytes { Self.writeHeader(block: block, into: $0) }
            let filled = try translateNetascii(into: &packet, blockSize: blockSize)
            packet.removeLast(blockSize - filled)
            return packet
        }
    }

    private static func writeHeader(block: UInt16, into packet: UnsafeMutableRawBufferPointer) {
        packet[0] = 0
        packet[1] = UInt8(Opcode.data.rawValue)
        packet[2] = UInt8(block >> 8)
        packet[3] = UInt8(block & 0xff)
    }

    /// Where the next `blockSize` bytes (fewer at the end) start in `ahead`, and how many
    /// there are; reads on when fewer than a block are left.
    private mutating func readAhead(blockSize: Int) throws(TFTPReadError) -> (from: Int, count: Int) {
        var available = aheadStart + aheadCount - sourceOffset
        if available < blockSize {
            if ahead.count < blockSize {
                ahead = [UInt8](repeating: 0, count: max(blockSize, min(Self.readAheadBytes, content.size)))
            }
            aheadCount = try content.read(into: &ahead, at: sourceOffset)
            aheadStart = sourceOffset
            available = aheadCount
        }
        return (sourceOffset - aheadStart, max(0, min(blockSize, available)))
    }

    private mutating func translateNetascii(into packet: inout [UInt8], blockSize: Int) throws(TFTPReadError) -> Int {
        var out = 4
        let end = 4 + blockSize
        if let byte = carried, out < end {
            packet[out] = byte
            out += 1
            carried = nil
        }
        // Every source byte yields at least one output byte, so one block's worth of
        // source is always enough.
        var source = [UInt8](repeating: 0, count: end - out)
        let n = try content.read(into: &source, at: sourceOffset)
        var consumed = 0
        while consumed < n && out < end {
            let byte = source[consumed]
            consumed += 1
            let pair: (UInt8, UInt8?) = switch byte {
            case 0x0a: (0x0d, 0x0a)
            case 0x0d: (0x0d, 0x00)
            default: (byte, nil)
            }
            packet[out] = pair.0
            out += 1
            if let second = pair.1 {
                if out < end { packet[out] = second; out += 1 } else { carried = second }
            }
        }
        sourceOffset += consumed
        return out - 4
    }
}
