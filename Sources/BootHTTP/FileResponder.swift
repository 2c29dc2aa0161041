// Serves files (netboot images, boot loaders) the way iPXE and UEFI HTTP boot need it:
// always a Content-Length (iPXE is far slower without one), HEAD, single byte ranges,
// ETag and Last-Modified with conditional requests. The body goes from the page cache to
// the socket with sendfile(2) (FileRegionSender); with `zeroCopy` off (file systems where
// sendfile misbehaves, as nginx's `sendfile off` is for) it is streamed in chunks read on
// NIO's thread pool. Either way a whole kernel or initrd never sits in memory.

import FileJail
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

struct FileResponder: Sendable {
    var chunkBytes: Int
    var zeroCopy: Bool
    var threadPool: NIOThreadPool = .singleton

    /// What the request asked for, after conditionals and Range.
    enum Plan: Equatable {
        case notModified
        case whole
        case partial(ClosedRange<Int64>)
        case unsatisfiable
    }

    static func etag(for file: JailedFile) -> String {
        let mtime = Int64(file.identity.modifiedSeconds)
        return "\"\(String(file.identity.inode, radix: 16))-\(String(file.size, radix: 16))-\(String(mtime, radix: 16))\""
    }

    static func plan(method: HTTPRequest.Method, headers: HTTPFields, size: Int64, etag: String, lastModified: String) -> Plan {
        if let ifNoneMatch = headers[.ifNoneMatch] {
            let tags = ifNoneMatch.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if tags.contains(etag) || tags.contains("*") { return .notModified }
        } else if let since = headers[.ifModifiedSince], since == lastModified {
            // Exact match of our own Last-Modified is what clients send back; no date parsing needed.
            return .notModified
        }
        guard method == .get, let rangeHeader = headers[.range] else { return .whole }
        // A Range that no longer matches the file (If-Range) gets the whole new file.
        if let ifRange = headers[.ifRange], ifRange != etag, ifRange != lastModified { return .whole }
        guard let range = parseByteRange(rangeHeader, size: size) else { return .whole }
        return range.map(Plan.partial) ?? .unsatisfiable
    }

    /// One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`. Returns nil to ignore the
    /// header (malformed, several ranges), `.some(nil)` when no byte of it exists.
    static func parseByteRange(_ header: String, size: Int64) -> ClosedRange<Int64>?? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        let isDigits = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        if first.isEmpty {
            guard isDigits(last), let n = Int64(last) else { return nil }
            guard n > 0, size > 0 else { return .some(nil) }
            return .some(max(0, size - n)...(size - 1))
        }
        guard isDigits(first), let start = Int64(first) else { return nil }
        var end = size - 1
        if !last.isEmpty {
            guard isDigits(last), let e = Int64(last) else { return nil }
            guard e >= start else { return nil }
            end = min(e, size - 1)
        }
        guard start < size else { return .some(nil) }
        return .some(start...end)
    }

    /// The response for `file`; `onSent` runs once the last byte is written.
    func respond(to request: Request, file: JailedFile, contentType: String, channel: any Channel,
                 onSent: @escaping @Sendable (_ bytes: Int64, _ range: String?) -> Void) -> Response {
        let etag = Self.etag(for: file)
        let lastModified = httpDate(Date(timeIntervalSince1970: TimeInterval(file.identity.modifiedSeconds)))
        var headers = HTTPFields()
        headers[.eTag] = etag
        headers[.lastModified] = lastModified
        headers[.acceptRanges] = "bytes"
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-cache"
        let plan = Self.plan(method: request.method, headers: request.headers, size: file.size, etag: etag, lastModified: lastModified)
        switch plan {
        case .notModified:
            return Response(status: .notModified, headers: headers)
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(file.size)"
            headers[.contentLength] = "0"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        case .whole, .partial:
            let range: ClosedRange<Int64>? = if case .partial(let r) = plan { r } else { nil }
            let start = range?.lowerBound ?? 0
            let length = range.map { $0.upperBound - $0.lowerBound + 1 } ?? file.size
            headers[.contentLength] = String(length)
            let rangeText = range.map { "bytes \($0.lowerBound)-\($0.upperBound)/\(file.size)" }
            if let rangeText { headers[.contentRange] = rangeText }
            let status: HTTPResponse.Status = range == nil ? .ok : .partialContent
            if request.method == .head { return Response(status: status, headers: headers) }
            let body = stream(file, from: start, length: length, channel: channel) { onSent(length, rangeText) }
            return Response(status: status, headers: headers, body: body)
        }
    }

    private func stream(_ file: JailedFile, from start: Int64, length: Int64, channel: any Channel,
                        onSent: @escaping @Sendable () -> Void) -> ResponseBody {
        let chunkBytes = chunkBytes
        let zeroCopy = zeroCopy
        let eventLoop = channel.eventLoop
        let threadPool = threadPool
        let end = start + length
        @Sendable func read(at offset: Int64) async throws -> ByteBuffer {
            let want = Int(min(Int64(chunkBytes), end - offset))
            let chunk = try await threadPool.runIfActive { () -> ByteBuffer in
                var buffer = ByteBufferAllocator().buffer(capacity: want)
                _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                    (try? file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: offset).get()) ?? 0
                }
                return buffer
            }
            // The file shrank under us: stop rather than promise bytes that are gone.
            guard chunk.readableBytes > 0 else { throw FileShrankError() }
            return chunk
        }
        return ResponseBody(contentLength: Int(length)) { writer in
            guard length > 0 else { return try await writer.finish(nil) }
            if zeroCopy {
                // Hummingbird has queued the head by now; the region follows it on the loop.
                let sentByKernel = try await eventLoop.flatSubmit { () -> EventLoopFuture<Bool> in
                    // A file cut shorter since it was opened would make sendfile(2) return
                    // 0 for ever: stop rather than promise bytes that are gone.
                    guard file.currentSize() >= start + length else { return eventLoop.makeFailedFuture(FileShrankError()) }
                    return FileRegionSender.send(file, from: start, length: length, on: channel)?.map { true }
                        ?? eventLoop.makeSucceededFuture(false)
                }.get()
                if sentByKernel {
                    try await writer.finish(nil)
                    return onSent()
                }
            }
            var offset = start
            // One chunk is read ahead while the previous one is being sent.
            var next = Task { try await read(at: start) }
            defer { next.cancel() }
            while offset < end {
                let chunk = try await next.value
                offset += Int64(chunk.readableBytes)
                if offset < end {
                    let at = offset
                    next = Task { try await read(at: at) }
                }
                try await writer.write(chunk)
                // A write from outside the event loop only queues a task there and returns,
                // so without this the disk outruns a slow client and chunks pile up in
                // memory (about 10 MB per connection at 64 clients). Once this round trip
                // returns, the chunk has reached the socket or made the channel
                // unwritable, which holds back the next write.
                try await eventLoop.submit {}.get()
            }
            try await writer.finish(nil)
            onSent()
        }
    }
}

struct FileShrankError: Error {}

/// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
func httpDate(_ date: Date) -> String {
    var seconds = time_t(date.timeIntervalSince1970)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
}
