// The UDP side of the installer's syslog (log_host/log_port on its kernel command line):
// one socket on the server's bench address, each datagram parsed (InstallJournal's
// InstallerSyslog) and handed to the recorder with the sender's IP. Nothing here blocks
// a boot: bad datagrams are dropped and counted.
//
// Who may speak (issue 16): UDP takes any source, so a line counts only when it comes from
// the address of a PC with an open install (the address its proven requests came from,
// ReportSessions), and is attributed to that PC; any other sender's lines are dropped and
// counted. Each sender is rate-limited (a token bucket per address) before its datagram is
// even parsed, so one installer, or a host spoofing its address, cannot flood the journal.

import Dispatch
import Foundation
import NetworkAddresses
import UDP

public struct InstallerSyslogStatistics: Sendable, Equatable {
    /// Lines taken (each one an installer.log event).
    public var lines = 0
    /// Datagrams refused: empty, oversize, or not syslog.
    public var dropped = 0
    /// Lines dropped because no open install has the sender's address.
    public var unknownSender = 0
    /// Datagrams dropped by the per-sender rate limit.
    public var rateLimited = 0
}

/// `start`, `rebind`, `stop` and `port` are called from one queue (the daemon's main queue).
public final class InstallerSyslogReceiver: @unchecked Sendable {
    /// Hears each accepted line with its sender's IP and the MAC of the PC it is attributed to.
    private let onLine: @Sendable (InstallerSyslogLine, _ ip: String, _ mac: String) -> Void
    private var options: UDPSocketOptions
    private let queue = DispatchQueue(label: "garage-pxe.installer-syslog")
    private let onDropped: @Sendable (InstallerSyslogRefusal, String) -> Void
    /// The MAC of the PC with an open install at this address, if any.
    private let openInstall: @Sendable (String) -> String?
    private let clock: @Sendable () -> Double
    // Touched on `queue` only.
    private var limiter: SourceRateLimiter
    private var socket: UDPSocket?
    private let lock = NSLock()
    private var counts = InstallerSyslogStatistics()

    /// `onDropped` hears each refused datagram (reason, sender) for the daemon's log.
    /// Bound to the served address only (no SO_BINDTODEVICE: a PC's lines arrive on the
    /// bench interface, and a test's on loopback, both addressed to it).
    /// The rate limit a sender gets: an installer's busiest minutes (dpkg unpacking) stay far
    /// under it, a flood is cut after one burst.
    public static let linesPerSecond = 200.0
    public static let burstLines = 2000.0

    /// `receiveBufferBytes`: the socket's buffer (limits.receive_buffer_kib, as the other
    /// services'), so a burst of lines waits there rather than being dropped by the kernel.
    public init(address: IPv4Address, port: UInt16, receiveBufferBytes: Int32? = nil,
                openInstall: @escaping @Sendable (String) -> String?,
                limiter: SourceRateLimiter = SourceRateLimiter(perSecond: InstallerSyslogReceiver.linesPerSecond,
                                                              burst: InstallerSyslogReceiver.burstLines),
                clock: @escaping @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 },
                onDropped: @escaping @Sendable (InstallerSyslogRefusal, String) -> Void = { _, _ in },
                onLine: @escaping @Sendable (InstallerSyslogLine, _ ip: String, _ mac: String) -> Void) {
        self.onLine = onLine
        self.options = UDPSocketOptions(bindAddress: address, port: port, receiveBufferBytes: receiveBufferBytes)
        self.openInstall = openInstall
        self.limiter = limiter
        self.clock = clock
        self.onDropped = onDropped
    }

    public var statistics: InstallerSyslogStatistics {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }

    /// The port bound (the configured one, or the kernel's pick for port 0).
    public var port: UInt16 { socket?.localPort ?? 0 }

    /// The address bound, host order.
    public var address: IPv4Address { options.bindAddress }

    /// Binds, reading nothing yet: lines wait in the socket's receive queue until `serve`
    /// (the daemon drops its last privileges in between).
    public func bind() throws(UDPError) {
        socket = try UDPSocket(options)
    }

    /// Reads what the bound socket receives, what is already queued first.
    public func serve() {
        if let socket { listen(on: socket) }
    }

    /// Moves to another address or port (a reload, once serving): the new socket is bound
    /// first, and only once it is, the old one is closed; if binding fails the old one keeps
    /// receiving. The counts carry over.
    public func rebind(address: IPv4Address, port: UInt16) throws(UDPError) {
        var moved = options
        moved.bindAddress = address
        moved.port = port
        let fresh = try UDPSocket(moved)
        let old = socket
        socket = fresh
        options = moved
        listen(on: fresh)
        old?.close()
    }

    private func listen(on socket: UDPSocket) {
        // One byte over the limit is enough to tell an oversize datagram from a full one.
        socket.startReceiving(on: queue, bufferSize: InstallerSyslog.maximumDatagramBytes + 1) { [self] datagram in
            receive(datagram)
        }
    }

    public func stop() {
        socket?.close()
        socket = nil
    }

    private func receive(_ datagram: Datagram) {
        guard limiter.admit(datagram.source.address, now: clock()) else {
            count { $0.rateLimited += 1 }
            return
        }
        let ip = datagram.source.address.description
        guard let mac = openInstall(ip) else {
            count { $0.unknownSender += 1 }
            return
        }
        let parsed = datagram.truncated ? .failure(.oversize(bytes: datagram.bytes.count)) : InstallerSyslog.parse(datagram.bytes)
        switch parsed {
        case .failure(let refusal):
            count { $0.dropped += 1 }
            onDropped(refusal, ip)
        case .success(let line):
            onLine(line, ip, mac)
            count { $0.lines += 1 }
        }
    }

    private func count(_ change: (inout InstallerSyslogStatistics) -> Void) {
        lock.lock()
        change(&counts)
        lock.unlock()
    }
}
