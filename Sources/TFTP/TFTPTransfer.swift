// One read transfer as a pure state machine: packets and clock ticks in, actions out.
// No sockets and no clock of its own: the server (or a test) feeds it datagrams and the
// time, and carries out what it returns. Block numbers are counted without limit here
// and only wrap to 16 bits on the wire, so files past 65535 blocks roll over (to 0, as
// tftp-hpa and curl expect).

import NetworkAddresses
import UDP

/// A point on a monotonic clock, in nanoseconds. The server uses DispatchTime's uptime;
/// tests use any numbers they like.
public struct TFTPInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public func advanced(by d: Duration) -> TFTPInstant { advanced(byNanoseconds: d.wholeNanoseconds) }
    public func duration(since earlier: TFTPInstant) -> Duration { .nanoseconds(nanoseconds(since: earlier)) }
    // The per-packet forms: plain integers, where Duration's 128-bit arithmetic showed in
    // the lockstep profile.
    func advanced(byNanoseconds n: Int64) -> TFTPInstant { TFTPInstant(nanoseconds: nanoseconds &+ UInt64(max(0, n))) }
    func nanoseconds(since earlier: TFTPInstant) -> Int64 { Int64(nanoseconds) - Int64(earlier.nanoseconds) }
    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }
    public var description: String { "t+\(nanoseconds)ns" }
}

/// When to send again. The wait adapts to the measured round trip (as TCP's does), so a
/// lost packet on a LAN costs milliseconds, not the second a fixed timer costs; it doubles
/// on each silence up to `ceiling`, and the transfer gives up after `maxRetries` silences
/// in a row, or once the client has said nothing useful for `silenceLimit`, whichever
/// comes first.
public struct TFTPRetransmitPolicy: Sendable, Equatable {
    /// Wait before any round trip has been measured.
    public var initial: Duration
    /// Never retransmit sooner than this, however fast the link looks.
    public var minimum: Duration
    /// The longest wait (config `tftp.timeout_ms`; a client's `timeout` option replaces it).
    public var ceiling: Duration
    /// Consecutive timeouts before the transfer is abandoned (config `tftp.retries`).
    public var maxRetries: Int
    /// The longest a transfer may go without a useful packet from its client (an ACK that
    /// moves it on) before it is abandoned, whatever the client's `timeout` option says:
    /// a client asking `timeout 255` that never answers would otherwise hold its slot for
    /// minutes (config `limits.tftp_silent_transfer_seconds`).
    public var silenceLimit: Duration

    /// The default of `limits.tftp_silent_transfer_seconds`, here once.
    public static let defaultSilenceSeconds = 30
    /// The defaults of `tftp.timeout_ms` and `tftp.retries`, here once.
    public static let defaultCeilingMilliseconds = 1000
    public static let defaultMaxRetries = 10
    /// The values `limits.tftp_silent_transfer_seconds` accepts.
    public static let silenceSecondsRange = 1...3600

    public init(initial: Duration = .milliseconds(250), minimum: Duration = .milliseconds(20),
                ceiling: Duration = .milliseconds(defaultCeilingMilliseconds), maxRetries: Int = defaultMaxRetries,
                silenceLimit: Duration = .seconds(defaultSilenceSeconds)) {
        self.initial = initial
        self.minimum = minimum
        self.ceiling = ceiling
        self.maxRetries = maxRetries
        self.silenceLimit = silenceLimit
    }
}

/// Jacobson/Karels round-trip estimate with Karn's rule (the caller only samples blocks
/// sent once).
struct RetransmitTimer: Sendable {
    private let minimum: Int64
    private let ceiling: Int64
    private var smoothed: Int64?
    private var variation: Int64 = 0
    private(set) var current: Int64

    init(_ policy: TFTPRetransmitPolicy) {
        ceiling = max(1, policy.ceiling.wholeNanoseconds)
        minimum = min(max(0, policy.minimum.wholeNanoseconds), ceiling)
        current = min(max(policy.initial.wholeNanoseconds, minimum), ceiling)
    }

    mutating func sample(_ roundTrip: Int64) {
        let rtt = max(0, roundTrip)
        if let s = smoothed {
            variation = (3 * variation + abs(s - rtt)) / 4
            smoothed = (7 * s + rtt) / 8
        } else {
            smoothed = rtt
            variation = rtt / 2
        }
        current = min(max(smoothed! + 4 * variation, minimum), ceiling)
    }

    mutating func backOff() { current = min(current * 2, ceiling) }
}

public enum TFTPTransferOutcome: Sendable, Equatable, CustomStringConvertible {
    case completed
    /// The client sent an ERROR (EDK2 sends 8 after reading tsize from the OACK: normal).
    case abortedByClient(code: UInt16, message: String)
    /// No answer after the retries, or nothing useful from the client for the policy's
    /// `silenceLimit`. `lastBlockSent`: only the final ACK was missing, so
    /// the client most likely has the whole file.
    case timedOut(lastBlockSent: Bool)
    /// The server could not read the file.
    case failed(String)
    /// The request never became a transfer: the client got this error.
    case refused(TFTPErrorCode, String)

    public var description: String {
        switch self {
        case .completed: "completed"
        case .abortedByClient(let code, let message): "aborted by client (error \(code): \(message))"
        case .timedOut(let last): last ? "timed out waiting for the final ACK" : "timed out"
        case .failed(let why): "failed: \(why)"
        case .refused(let code, let why): "refused (error \(code.rawValue) \(code)): \(why)"
        }
    }

    /// Short stable key for the server's counters.
    public var counterName: String {
        switch self {
        case .completed: "completed"
        case .abortedByClient: "aborted"
        case .timedOut: "timed-out"
        case .failed: "failed"
        case .refused: "refused"
        }
    }
}

public struct TFTPTransferStatistics: Sendable, Equatable {
    /// Payload bytes the client acknowledged.
    public var bytesAcknowledged = 0
    public var packetsSent = 0
    /// DATA (and OACK) packets sent more than once.
    public var retransmissions = 0
    public var startedAt: TFTPInstant
    public var finishedAt: TFTPInstant?
    /// Packets from the client that changed nothing: ACKs for blocks never sent, stale
    /// or repeated ACKs, DATA or garbage sent to a read transfer.
    public var ignoredPackets = 0
    /// Packets from another address or port (answered with error 5).
    public var strangerPackets = 0
}

public struct TFTPTransfer: Sendable {
    public enum Action: Sendable, Equatable {
        case send([UInt8], to: IPv4Endpoint)
        /// Call `timeout(now:)` at or after this instant (replaces any earlier request).
        case wake(at: TFTPInstant)
        case finish(TFTPTransferOutcome)
    }

    private struct SentPacket: Sendable {
        var bytes: [UInt8]
        var sentAt: TFTPInstant
        var sendCount: Int
    }

    private enum Phase: Sendable {
        case created
        case awaitingOptionAck(SentPacket)
        case sending
        case finished
    }

    public let peer: IPv4Endpoint
    public let options: TFTPNegotiatedOptions
    public private(set) var statistics: TFTPTransferStatistics
    private var reader: BlockReader
    private var phase: Phase = .created
    /// First block not yet acknowledged; `window` holds it and the blocks after it that
    /// are in flight.
    private var windowStart = 1
    private var window: [SentPacket] = []
    /// Number of the final (short) block, once it has been read.
    private var lastBlock: Int?
    private var timer: RetransmitTimer
    private let maxRetries: Int
    private var consecutiveTimeouts = 0
    private var deadline: TFTPInstant?
    private let silenceLimitNanoseconds: Int64
    /// The start, then the last ACK that moved the transfer on.
    private var lastHeard: TFTPInstant

    public init(peer: IPv4Endpoint, content: any TFTPContent, mode: TFTPMode, options: TFTPNegotiatedOptions,
                retransmit: TFTPRetransmitPolicy, now: TFTPInstant) {
        self.peer = peer
        self.options = options
        var policy = retransmit
        if let seconds = options.timeoutSeconds { policy.ceiling = .seconds(seconds) }
        timer = RetransmitTimer(policy)
        maxRetries = max(1, retransmit.maxRetries)
        silenceLimitNanoseconds = max(0, retransmit.silenceLimit.wholeNanoseconds)
        lastHeard = now
        reader = BlockReader(content: content, mode: mode)
        statistics = TFTPTransferStatistics(startedAt: now)
    }

    public var isFinished: Bool { if case .finished = phase { true } else { false } }

    /// The first packet: the OACK when options were agreed, else DATA block 1.
    public mutating func start(now: TFTPInstant) -> [Action] {
        guard case .created = phase else { return [] }
        lastHeard = now
        if options.acknowledged.isEmpty {
            phase = .sending
            return fillWindow(now: now)
        }
        let oack = SentPacket(bytes: TFTPPacket.optionAck(options.acknowledged).serialize(), sentAt: now, sendCount: 1)
        phase = .awaitingOptionAck(oack)
        statistics.packetsSent += 1
        return [.send(oack.bytes, to: peer), armTimer(now: now)]
    }

    public mutating func handle(_ bytes: [UInt8], from source: IPv4Endpoint, now: TFTPInstant) -> [Action] {
        if isFinished { return [] }
        let packet = try? TFTPPacket(parsing: bytes)
        guard source == peer else {
            statistics.strangerPackets += 1
            // RFC 1350: answer a stranger with error 5 and carry on. Never answer an error.
            if case .error = packet { return [] }
            return [.send(TFTPPacket.error(.unknownTransferID, "Unknown transfer ID").serialize(), to: source)]
        }
        switch packet {
        case .error(let code, let message):
            return finish(.abortedByClient(code: code, message: message), now: now)
        case .ack(let block):
            return acknowledge(block, now: now)
        default:
            // Anything else from the client (a stray DATA, garbage) changes nothing.
            statistics.ignoredPackets += 1
            return []
        }
    }

    /// The clock reached a `wake` instant. Early calls just re-arm.
    public mutating func timeout(now: TFTPInstant) -> [Action] {
        if isFinished { return [] }
        guard let due = deadline else { return [] }
        guard now >= due else { return [.wake(at: due)] }
        consecutiveTimeouts += 1
        if consecutiveTimeouts > maxRetries || now >= silentUntil {
            let allSent = lastBlock != nil && windowStart + window.count - 1 == lastBlock
            return finish(.timedOut(lastBlockSent: allSent), now: now)
        }
        timer.backOff()
        var actions: [Action] = []
        switch phase {
        case .awaitingOptionAck(var oack):
            oack.sendCount += 1
            oack.sentAt = now
            phase = .awaitingOptionAck(oack)
            actions.append(.send(oack.bytes, to: peer))
            statistics.retransmissions += 1
            statistics.packetsSent += 1
        case .sending:
            // Resend the whole window (RFC 7440): the receiver drops what it already has.
            actions += resendWindow(now: now)
        case .created, .finished:
            return []
        }
        actions.append(armTimer(now: now))
        return actions
    }

    private mutating func acknowledge(_ wireBlock: UInt16, now: TFTPInstant) -> [Action] {
        switch phase {
        case .awaitingOptionAck(let oack):
            guard wireBlock == 0 else { statistics.ignoredPackets += 1; return [] }
            if oack.sendCount == 1 { timer.sample(now.nanoseconds(since: oack.sentAt)) }
            consecutiveTimeouts = 0
            lastHeard = now
            phase = .sending
            return fillWindow(now: now)
        case .sending:
            // Map the 16-bit number onto [windowStart - 1, last block in flight]; anything
            // else is stale or bogus.
            let base = windowStart - 1
            let distance = Int(wireBlock &- UInt16(truncatingIfNeeded: base))
            let acked = base + distance
            // A repeat of the ACK before the window (distance 0) is ignored: answering it
            // is the Sorcerer's Apprentice bug.
            guard distance > 0, acked < windowStart + window.count else { statistics.ignoredPackets += 1; return [] }
            let count = acked - windowStart + 1
            let newest = window[count - 1]
            if newest.sendCount == 1 { timer.sample(now.nanoseconds(since: newest.sentAt)) }
            for packet in window[0..<count] { statistics.bytesAcknowledged += packet.bytes.count - 4 }
            window.removeFirst(count)
            windowStart = acked + 1
            consecutiveTimeouts = 0
            lastHeard = now
            if let last = lastBlock, acked >= last { return finish(.completed, now: now) }
            // An ACK short of the window's end reports a gap (RFC 7440): the receiver
            // dropped what followed, so the window restarts right after it. Lockstep
            // always empties the window: nothing to resend, no arrays to join.
            if window.isEmpty { return fillWindow(now: now) }
            return resendWindow(now: now) + fillWindow(now: now)
        case .created, .finished:
            return []
        }
    }

    /// Sends again every block in flight.
    private mutating func resendWindow(now: TFTPInstant) -> [Action] {
        for i in window.indices {
            window[i].sendCount += 1
            window[i].sentAt = now
        }
        statistics.retransmissions += window.count
        statistics.packetsSent += window.count
        return window.map { .send($0.bytes, to: peer) }
    }

    /// Reads and sends blocks until the window is full or the file is done.
    private mutating func fillWindow(now: TFTPInstant) -> [Action] {
        var actions: [Action] = []
        actions.reserveCapacity(options.windowSize - window.count + 1)
        while window.count < options.windowSize {
            let number = windowStart + window.count
            if let last = lastBlock, number > last { break }
            let bytes: [UInt8]
            do {
                bytes = try reader.nextPacket(block: UInt16(truncatingIfNeeded: number), blockSize: options.blockSize)
            } catch {
                let message = TFTPPacket.error(.notDefined, "Read error").serialize()
                return actions + [.send(message, to: peer)] + finish(.failed(error.description), now: now)
            }
            if bytes.count - 4 < options.blockSize { lastBlock = number }
            window.append(SentPacket(bytes: bytes, sentAt: now, sendCount: 1))
            actions.append(.send(bytes, to: peer))
            statistics.packetsSent += 1
        }
        actions.append(armTimer(now: now))
        return actions
    }

    /// When the silence ceiling abandons the transfer unless the client moves it on.
    private var silentUntil: TFTPInstant { lastHeard.advanced(byNanoseconds: silenceLimitNanoseconds) }

    /// The next retransmission, or the silence ceiling if that comes first.
    private mutating func armTimer(now: TFTPInstant) -> Action {
        let due = min(now.advanced(byNanoseconds: timer.current), silentUntil)
        deadline = due
        return .wake(at: due)
    }

    private mutating func finish(_ outcome: TFTPTransferOutcome, now: TFTPInstant) -> [Action] {
        phase = .finished
        deadline = nil
        window = []
        statistics.finishedAt = now
        return [.finish(outcome)]
    }
}
