// Counters for what the HTTP side refused or dropped, so hostile or broken clients show up
// in the daemon's STATUS line and log (and in tests) instead of only in single log lines.

import NIOConcurrencyHelpers
import NIOCore

/// Counters since start, shared by the routes and every connection; safe from any thread.
public final class BootHTTPStatistics: Sendable {
    public struct Counts: Sendable, Equatable {
        /// Requests answered with an error, by status code (400, 403, 404, 503…).
        public var refused: [Int: Int] = [:]
        /// Connections closed before one request was read in full: slow or silent
        /// clients dropped by the idle timeout, or clients that gave up.
        public var closedBeforeRequest = 0
        /// Connections whose bytes were not HTTP, or whose request line and headers were
        /// too large (the decoder's limits); the connection is closed.
        public var malformedConnections = 0
        public var connections = 0
        /// Connections closed at once because the connection cap (overall or for their
        /// client address) was reached.
        public var overConnectionCap = 0
        /// Connections waiting for a request, closed to make room for a new client while
        /// every connection was taken (the busiest address's longest waiting one).
        public var evictedAtConnectionCap = 0
        /// Connections closed because a whole request did not arrive within the request
        /// deadline (slowloris, or an idle keep-alive connection).
        public var requestDeadlineCloses = 0
        /// Connections cut because their client took an answer slower than the minimum rate.
        public var slowReaderCloses = 0
        /// Bench-page event streams refused (503) because the stream cap was reached.
        public var eventStreamsRefused = 0
        /// 404s for files the signed chain asks for on every boot and does without (shim's
        /// optional files): not in `refused`, so that a real 404 still stands out.
        public var expectedProbes = 0

        public var refusedTotal: Int { refused.values.reduce(0, +) }
        public init() {}
    }

    private let box = NIOLockedValueBox(Counts())
    /// The connections open now, so a stop cut short can close them (a download in flight
    /// does not end on task cancellation alone).
    private let open = NIOLockedValueBox([ObjectIdentifier: any Channel]())

    public init() {}

    public var counts: Counts { box.withLockedValue { $0 } }

    func countRefusal(status: Int) { box.withLockedValue { $0.refused[status, default: 0] += 1 } }
    func countConnection() { box.withLockedValue { $0.connections += 1 } }
    func countClosedBeforeRequest() { box.withLockedValue { $0.closedBeforeRequest += 1 } }
    func countMalformedConnection() { box.withLockedValue { $0.malformedConnections += 1 } }
    func countOverConnectionCap() { box.withLockedValue { $0.overConnectionCap += 1 } }
    func countEvictedAtConnectionCap() { box.withLockedValue { $0.evictedAtConnectionCap += 1 } }
    func countRequestDeadline() { box.withLockedValue { $0.requestDeadlineCloses += 1 } }
    func countSlowReader() { box.withLockedValue { $0.slowReaderCloses += 1 } }
    func countEventStreamRefused() { box.withLockedValue { $0.eventStreamsRefused += 1 } }
    func countExpectedProbe() { box.withLockedValue { $0.expectedProbes += 1 } }

    func opened(_ channel: any Channel) { open.withLockedValue { $0[ObjectIdentifier(channel)] = channel } }
    func closed(_ channel: any Channel) { open.withLockedValue { $0[ObjectIdentifier(channel)] = nil } }

    /// Closes every open connection (the end of a stop's grace period): their clients see
    /// the response cut short.
    public func closeAllConnections() {
        for channel in open.withLockedValue({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

/// Sits after the HTTP decoder on every connection: a read there is a decoded request
/// part, so a connection that closes with none never sent a whole request head.
final class ConnectionAccounting: ChannelInboundHandler, RemovableChannelHandler {
    // Parts are only counted and passed on, never looked into.
    typealias InboundIn = Any
    private let statistics: BootHTTPStatistics
    private var partsRead = 0
    private var failed = false

    init(statistics: BootHTTPStatistics) { self.statistics = statistics }

    func channelActive(context: ChannelHandlerContext) {
        statistics.countConnection()
        statistics.opened(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partsRead += 1
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request cut short by the close (idle timeout, client gone) also surfaces as a
        // decoder error, after the channel went inactive: that one is counted as a close.
        if !failed && context.channel.isActive {
            failed = true
            statistics.countMalformedConnection()
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if partsRead == 0 && !failed { statistics.countClosedBeforeRequest() }
        statistics.closed(context.channel)
        context.fireChannelInactive()
    }
}
