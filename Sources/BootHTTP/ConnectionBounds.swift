// Bounds on what one HTTP connection, one client address and all clients together may
// hold, so a host on the bench LAN cannot take the descriptors the boot services share
// (TFTP sockets, image files, the journal) or keep connections open for ever:
//
// - a cap on open connections, overall and per client address: one past the per-client cap
//   is closed at once and counted, so a flood from one host leaves room for the others;
//   past the overall cap, a newcomer takes the place of the busiest address's longest
//   waiting connection (ConnectionGate), so many source addresses cannot lock PCs out;
// - a deadline for each whole request (head and body) from the moment the connection
//   waits for it (opened, or the previous answer written). Unlike an idle timer it is not
//   reset by each byte, so a client sending one header byte a second (slowloris) is cut;
// - a minimum rate at which a client takes an answer: a reader slower than it on
//   average, or one that took nothing for two minutes, while the server has bytes
//   waiting for it, is cut.

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// The numbers; `limits:` in the configuration sets them (see config/garage-pxe.yaml).
public struct HTTPConnectionLimits: Sendable, Equatable {
    /// Open connections at once, all clients together.
    public var maxConnections: Int
    /// Open connections at once from one client address (a PC's firmware uses one, a
    /// browser six).
    public var maxConnectionsPerClient: Int
    /// Time to send a whole request, head and body, once the connection waits for one.
    public var requestDeadline: Duration
    /// Slowest a client may take an answer while bytes wait for it, judged over
    /// `sendRateWindow`.
    public var minimumSendBytesPerSecond: Int
    public var sendRateWindow: Duration
    /// Open bench-page event streams (`/api/events`) at once; one more is answered 503.
    public var maxEventStreams: Int

    public static let defaultMaxConnections = 1024
    public static let defaultMaxConnectionsPerClient = 64
    public static let defaultRequestSeconds = 15
    public static let defaultMinimumSendBytesPerSecond = 4096
    public static let defaultMaxEventStreams = 32

    public init(maxConnections: Int = Self.defaultMaxConnections, maxConnectionsPerClient: Int = Self.defaultMaxConnectionsPerClient,
                requestDeadline: Duration = .seconds(Self.defaultRequestSeconds),
                minimumSendBytesPerSecond: Int = Self.defaultMinimumSendBytesPerSecond, sendRateWindow: Duration = .seconds(10),
                maxEventStreams: Int = Self.defaultMaxEventStreams) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.requestDeadline = requestDeadline
        self.minimumSendBytesPerSecond = minimumSendBytesPerSecond
        self.sendRateWindow = sendRateWindow
        self.maxEventStreams = maxEventStreams
    }
}

/// The open connections, overall and per client address, shared by every connection.
///
/// When every connection is taken, a newcomer is not simply refused: a host holding many
/// source addresses (64 connections from each of 16) could otherwise fill the overall cap
/// and keep every PC out. The newcomer takes the place of a connection that waits for a
/// request (idle, or a slowloris head) from the address holding the most connections, the
/// one waiting longest, provided that address holds more than the newcomer's. A connection
/// being answered (a download) is never closed this way; with none to take, the newcomer is
/// closed at once as before.
final class ConnectionGate: Sendable {
    private struct Connection {
        var client: String
        /// Since when (uptime ns) it waits for a request; nil while a request is answered.
        var waitingSince: UInt64?
        var close: @Sendable () -> Void
    }
    private struct Open {
        var total = 0
        var byClient: [String: Int] = [:]
        var connections: [ObjectIdentifier: Connection] = [:]

        mutating func remove(_ id: ObjectIdentifier) {
            guard let gone = connections.removeValue(forKey: id) else { return }
            total -= 1
            let left = byClient[gone.client, default: 1] - 1
            byClient[gone.client] = left > 0 ? left : nil
        }
    }
    private let open = NIOLockedValueBox(Open())
    let limits: HTTPConnectionLimits

    init(limits: HTTPConnectionLimits) { self.limits = limits }

    enum Admission: Equatable {
        case admitted
        /// Admitted in the place of another connection, now being closed.
        case admittedByEviction
        case refused
    }

    /// Takes a place for connection `id` from `client` (which `close` closes, from any
    /// thread); at the overall cap, in the place of a waiting connection of a busier address.
    func admit(_ id: ObjectIdentifier, client: String, close: @escaping @Sendable () -> Void) -> Admission {
        let (admission, evicted) = open.withLockedValue { open -> (Admission, Connection?) in
            let mine = open.byClient[client, default: 0]
            guard mine < limits.maxConnectionsPerClient else { return (.refused, nil) }
            var evicted: Connection?
            if open.total >= limits.maxConnections {
                var best: (id: ObjectIdentifier, held: Int, since: UInt64)?
                for (other, connection) in open.connections {
                    guard let since = connection.waitingSince else { continue }
                    let held = open.byClient[connection.client, default: 0]
                    guard held > mine else { continue }
                    if best.map({ held > $0.held || (held == $0.held && since < $0.since) }) ?? true { best = (other, held, since) }
                }
                guard let best else { return (.refused, nil) }
                evicted = open.connections[best.id]
                open.remove(best.id)
            }
            open.total += 1
            open.byClient[client, default: 0] += 1
            open.connections[id] = Connection(client: client, waitingSince: DispatchTime.now().uptimeNanoseconds, close: close)
            return (evicted == nil ? .admitted : .admittedByEviction, evicted)
        }
        evicted?.close()
        return admission
    }

    /// Whether the connection waits for a request (true) or is answering one.
    func setWaiting(_ id: ObjectIdentifier, _ waiting: Bool) {
        open.withLockedValue { open in
            guard var connection = open.connections[id] else { return }
            connection.waitingSince = waiting ? (connection.waitingSince ?? DispatchTime.now().uptimeNanoseconds) : nil
            open.connections[id] = connection
        }
    }

    /// The connection closed (a no-op for one evicted: its place was already given).
    func release(_ id: ObjectIdentifier) {
        open.withLockedValue { $0.remove(id) }
    }

    var openConnections: Int { open.withLockedValue { $0.total } }
}

/// One per connection, after Hummingbird's HTTP codec: it sees whole request parts in and
/// response parts out. Everything runs on the connection's event loop.
final class ConnectionBounds: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let gate: ConnectionGate
    private let statistics: BootHTTPStatistics
    private var client: String?
    private var decided = false
    /// Requests read whole, and answers written whole: equal means the connection waits
    /// for a request (the deadline runs), greater means an answer is owed.
    private var requestsRead = 0
    private var answersWritten = 0
    private var answering = false
    private var requestDeadline: Scheduled<Void>?
    private var rateCheck: Scheduled<Void>?
    private var lastSample: SendProgress?
    private var pace = Pace()

    init(gate: ConnectionGate, statistics: BootHTTPStatistics) {
        self.gate = gate
        self.statistics = statistics
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard !decided else { return }
        decided = true
        let address = context.channel.remoteAddress?.ipAddress ?? "-"
        let channel = context.channel
        let statistics = self.statistics
        switch gate.admit(ObjectIdentifier(self), client: address, close: {
            statistics.countEvictedAtConnectionCap()
            channel.close(promise: nil)
        }) {
        case .refused:
            statistics.countOverConnectionCap()
            context.close(promise: nil)
            return
        case .admitted, .admittedByEviction:
            break
        }
        client = address
        armRequestDeadline(context)
        scheduleRateCheck(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { leave() }

    private func leave() {
        requestDeadline?.cancel()
        rateCheck?.cancel()
        requestDeadline = nil
        rateCheck = nil
        if client != nil { gate.release(ObjectIdentifier(self)) }
        client = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            requestsRead += 1
            requestDeadline?.cancel()
            requestDeadline = nil
            gate.setWaiting(ObjectIdentifier(self), false)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.kind != .informational:
            answering = true
            lastSample = nil
            pace = Pace()
        case .end:
            answering = false
            answersWritten += 1
            guard answersWritten >= requestsRead else { break }
            // The wait for the next request starts once the answer's last byte is with the
            // kernel: a deadline closing the connection earlier would cut the answer short.
            let written = promise ?? context.eventLoop.makePromise(of: Void.self)
            written.futureResult.assumeIsolated().whenSuccess { self.armRequestDeadline(context) }
            context.write(data, promise: written)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    private func armRequestDeadline(_ context: ChannelHandlerContext) {
        requestDeadline?.cancel()
        guard client != nil else { return }
        gate.setWaiting(ObjectIdentifier(self), true)
        requestDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeAmount(gate.limits.requestDeadline)) {
            self.requestDeadline = nil
            self.statistics.countRequestDeadline()
            context.close(promise: nil)
        }
    }

    /// Every `sendRateWindow` while an answer is being written, from what the kernel says
    /// the client acknowledged. Only windows that began with bytes waiting for the client
    /// count (a server slow to read its disk is not the client's fault). Two rules, for
    /// two kinds of client: one taking less than the minimum rate on average over those
    /// windows (at least two) is a slow reader; one taking nothing at all for
    /// `maximumSilence` is a stopped reader, whatever it took before. Averaging, not
    /// judging each window, lets a client that reads in bursts pass: `curl --limit-rate`
    /// reads megabytes at once and then takes nothing for half a minute.
    private func scheduleRateCheck(_ context: ChannelHandlerContext) {
        guard client != nil, gate.limits.minimumSendBytesPerSecond > 0 else { return }
        rateCheck = context.eventLoop.assumeIsolated().scheduleTask(in: Self.timeAmount(gate.limits.sendRateWindow)) {
            self.rateCheck = nil
            self.checkRate(context)
            self.scheduleRateCheck(context)
        }
    }

    private func checkRate(_ context: ChannelHandlerContext) {
        guard answering, let sample = SendProgress.read(context.channel) else {
            lastSample = nil
            return
        }
        defer { lastSample = sample }
        guard let last = lastSample, last.waiting > 0 else { return }
        let window = Double(gate.limits.sendRateWindow.components.seconds)
        let taken = sample.acknowledged &- last.acknowledged
        pace.windows += 1
        pace.taken += taken
        pace.owed += min(last.waiting, UInt64(Double(gate.limits.minimumSendBytesPerSecond) * window))
        pace.silentWindows = taken == 0 ? pace.silentWindows + 1 : 0
        let slow = pace.windows >= 2 && pace.taken < pace.owed
        let stopped = Double(pace.silentWindows) * window >= Self.maximumSilence
        if slow || stopped {
            statistics.countSlowReader()
            context.close(promise: nil)
        }
    }

    /// The longest a client may take nothing while bytes wait for it.
    static let maximumSilence: Double = 120

    /// One answer's record, from its head on.
    private struct Pace {
        var windows = 0
        var taken: UInt64 = 0
        var owed: UInt64 = 0
        var silentWindows = 0
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// What the kernel says of a TCP connection's sending side (getsockopt TCP_INFO). Glibc's
/// `struct tcp_info` stops before the byte counters, so the fields are read at their
/// offsets in Linux's own (include/uapi/linux/tcp.h, stable since Linux 4.6).
struct SendProgress {
    /// Bytes the client acknowledged since the connection opened (tcpi_bytes_acked).
    var acknowledged: UInt64
    /// Bytes waiting for the client: queued but not sent (tcpi_notsent_bytes), plus sent
    /// but not yet acknowledged (tcpi_unacked segments of tcpi_snd_mss bytes).
    var waiting: UInt64

    /// 160 bytes: through tcpi_notsent_bytes and its neighbours.
    private struct Raw: Sendable { var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                                     UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) }

    /// Call on the channel's event loop: the option is then read at once.
    static func read(_ channel: any Channel) -> SendProgress? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<Raw> = provider.unsafeGetSocketOption(level: SocketOptionLevel(IPPROTO_TCP), name: SocketOptionName(TCP_INFO))
        var result: Raw?
        future.assumeIsolated().whenSuccess { result = $0 }
        guard let raw = result else { return nil }
        return withUnsafeBytes(of: raw) { bytes in
            func u32(_ offset: Int) -> UInt64 { UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
            let mss = u32(16), unacked = u32(24), notSent = u32(144)
            return SendProgress(acknowledged: bytes.loadUnaligned(fromByteOffset: 120, as: UInt64.self), waiting: notSent + unacked * mss)
        }
    }
}
