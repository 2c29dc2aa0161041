// The UDP side of the installer's syslog (log_host/log_port on its kernel command line):
// one socket on the server's bench address, each datagram parsed (InstallJournal's
// InstallerSyslog) and handed to the recorder with the sender's IP. Nothing here blocks
// a boot: bad datagrams are dropped and counted, unknown senders counted and still logged.

import DHCP
import Dispatch
import Foundation
import InstallJournal
import TFTP
import UDP

public struct InstallerSyslogStatistics: Sendable, Equatable {
    /// Lines taken (each one an installer.log event).
    public var lines = 0
    /// Datagrams refused: empty, oversize, or not syslog.
    public var dropped = 0
    /// Lines from an IP that no HTTP request nor the neighbour table tied to a MAC.
    public var unknownSender = 0
}

/// `start`, `rebind`, `stop` and `port` are called from one queue (the daemon's main queue).
public final class InstallerSyslogReceiver: @unchecked Sendable {
    private let recorder: InstallEventRecorder
    private var options: UDPSocketOptions
    private let queue = DispatchQueue(label: "garage-pxe.installer-syslog")
    private let onDropped: @Sendable (InstallerSyslogRefusal, String) -> Void
    private var socket: UDPSocket?
    private let lock = NSLock()
    private var counts = InstallerSyslogStatistics()

    /// `onDropped` hears each refused datagram (reason, sender) for the daemon's log.
    /// Bound to the served address only (no SO_BINDTODEVICE: a PC's lines arrive on the
    /// bench interface, and a test's on loopback, both addressed to it).
    public init(recorder: InstallEventRecorder, address: UInt32, port: UInt16,
                onDropped: @escaping @Sendable (InstallerSyslogRefusal, String) -> Void = { _, _ in }) {
        self.recorder = recorder
        self.options = UDPSocketOptions(bindAddress: address, port: port)
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
    public var address: UInt32 { options.bindAddress }

    public func start() throws(UDPError) {
        let socket = try UDPSocket(options)
        self.socket = socket
        listen(on: socket)
    }

    /// Moves to another address or port (a reload): the new socket is bound first, and only
    /// once it is, the old one is closed; if binding fails the old one keeps receiving.
    /// The counts carry over.
    public func rebind(address: UInt32, port: UInt16) throws(UDPError) {
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
        let ip = formatIPv4(datagram.source.address)
        let parsed = datagram.truncated ? .failure(.oversize(bytes: datagram.bytes.count)) : InstallerSyslog.parse(datagram.bytes)
        switch parsed {
        case .failure(let refusal):
            count { $0.dropped += 1 }
            onDropped(refusal, ip)
        case .success(let line):
            let mac = recorder.installerSyslog(line, from: ip) { ip in
                parseIPv4(ip).flatMap(NeighbourTable.hardwareAddress(of:)).flatMap { MACAddress(bytes: $0)?.description }
            }
            count {
                $0.lines += 1
                if mac == nil { $0.unknownSender += 1 }
            }
        }
    }

    private func count(_ change: (inout InstallerSyslogStatistics) -> Void) {
        lock.lock()
        change(&counts)
        lock.unlock()
    }
}
