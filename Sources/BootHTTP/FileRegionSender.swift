// Zero-copy file bodies. Hummingbird's response writer carries ByteBuffers only, so a file
// streamed through it is read into memory and copied to the socket chunk by chunk, with a
// hop through the event loop per chunk. NIO can hand a file region to the kernel instead
// (sendfile(2): the page cache goes straight to the socket), but only below Hummingbird's
// HTTP-types codec, where a body part is still NIO's IOData. This handler sits there, right
// after NIO's response encoder, and lets a route send a file region on its connection once
// Hummingbird has written the response head.
//
// Order on the wire: Hummingbird's head write is queued on the event loop before the route
// asks for the region (NIOAsyncChannel's writer hands writes to the loop in order), the
// region is written from a later task on the same loop, and the route writes the response
// end only after the region is fully sent.

#if canImport(Glibc)
import Glibc
#endif
import FileJail
import NIOCore
import NIOHTTP1

final class FileRegionSender: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    // Touched only on the channel's event loop.
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes `length` bytes of `file` from `offset` as the response body on `channel`; the
    /// future succeeds once the kernel has taken the last byte. nil when the connection has
    /// no sender (then the caller streams the file itself). Call on the channel's event loop.
    static func send(_ file: JailedFile, from offset: Int64, length: Int64, on channel: any Channel) -> EventLoopFuture<Void>? {
        guard let sender = try? channel.pipeline.syncOperations.handler(type: FileRegionSender.self),
              let context = sender.context else { return nil }
        // NIO leaves the handle open; it is a copy, so the file keeps its own descriptor.
        let copy = dup(file.descriptor)
        guard copy >= 0 else { return context.eventLoop.makeFailedFuture(IOError(errnoCode: errno, reason: "dup")) }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: copy)
        let region = FileRegion(fileHandle: handle, readerIndex: Int(offset), endIndex: Int(offset + length))
        let written = context.eventLoop.makePromise(of: Void.self)
        // sendfile(2) returns 0 for ever once the file is cut shorter than the region (an
        // admin's `cp` over an image being downloaded), and NIO would retry it at full
        // CPU. Once a second the file's size is checked; a shrunk file closes the
        // connection, which fails the write and tells the client its body is short.
        let end = offset + length
        let connection = NIOLoopBound(context, eventLoop: context.eventLoop)
        let watch = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            if file.currentSize() < end { connection.value.close(promise: nil) }
        }
        context.writeAndFlush(sender.wrapOutboundOut(.body(.fileRegion(region))), promise: written)
        return written.futureResult.always { _ in
            watch.cancel()
            try? handle.close()
        }
    }

    /// Put into the pipeline through Hummingbird's `additionalChannelHandlers`, which sit
    /// above its codec; it places a `FileRegionSender` below the codec, right after NIO's
    /// response encoder, and otherwise passes everything on.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = Any

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            // No encoder (another server setup): routes find no sender and stream instead.
            guard let encoder = try? pipeline.handler(type: HTTPResponseEncoder.self) else { return }
            try? pipeline.addHandler(FileRegionSender(), position: .after(encoder))
        }
    }
}
