// Bounds on what one HTTP connection, one client address and all clients together may
// hold, so a host on the bench LAN cannot take the descriptors the boot services share
// (TFTP sockets, image files, the journal) or keep connections open for ever:
//
// - a cap on open connections, overall and per client address: one past either is
//   closed at once and counted, so a flood from one host leaves room for the others;
// - a deadline for each whole request (head and body) from the moment the connection
//   waits for it (opened, or the previous answer written). Unlike an idle timer it is not
//   reset by each byte, so a client sending one header byte a second (slowloris) is cut;
// - a minimum rate at which a client takes an answer: a reader slower than it on
//   average, or one that took nothing for two minutes, while the server has bytes
//   waiting for it, is cut.

#if canImport(Glibc)
import Glibc
#endif
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
final class ConnectionGate: Sendable {
    private struct Open {
        var total = 0
        var byClient: [String: Int] = [:]
    }
    private let open = NIOLockedValueBox(Open())
    let limits: HTTPConnectionLimits

    init(limits: HTTPConnectionLimits) { self.limits = limits }

    /// Takes a place for a connection from `client`; false when either cap is reached.
    func admit(_ client: String) -> Bool {
        open.withLockedValue { open in
            guard open.total < limits.maxConnections, open.byClient[client, default: 0] < limits.maxConnectionsPerClient else { return false }
            open.total += 1
            open.byClient[client, default: 0] += 1
            return true
        }
    }

    func release(_ client: String) {
        open.withLockedValue { open in
            open.total -= 1
            let left = open.byClient[client, default: 1] - 1
            open.byClient[client] = left > 0 ? left : nil
        }
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
        guard gate.admit(address) else {
            statistics.countOverConnectionCap()
            context.close(promise: nil)
            return
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
        if let client { gate.release(client) }
        client = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            requestsRead += 1
            requestDeadline?.cancel()
            requestDeadline = nil
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
