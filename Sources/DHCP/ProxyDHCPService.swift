// The proxyDHCP server: the policy (ProxyPolicy.swift) on sockets (module UDP), as the TFTP
// module holds its server next to its codec. Only this file touches a socket; the codec and
// the policy stay pure. Everything runs on the thread of one UDPEventLoop, which reads each
// request and answers it without a hand-off between threads, so the counters and the
// policy need no locks.

import Dispatch
import NetworkAddresses
import Synchronization
import UDP

/// What the service reports; the daemon's event sink turns each into a journal event or
/// a log line.
public enum ProxyEvent: Sendable {
    case answered(ProxyRequestSummary, bootfile: String, replyTo: String, interface: String?)
    case ignored(ProxyIgnoreReason, ProxyRequestSummary, interface: String?)
    case malformed(DHCPParseError, from: String, interface: String?)
    case sendFailed(String, ProxyRequestSummary)
}

/// Counters since start; read with `ProxyDHCPService.statistics`.
public struct ProxyStatistics: Sendable, Equatable {
    public var received = 0
    public var answered = 0
    public var ignored: [String: Int] = [:]
    public var malformed: [String: Int] = [:]
    public var sendErrors = 0

    public init() {}

    public var ignoredTotal: Int { ignored.values.reduce(0, +) }
    public var malformedTotal: Int { malformed.values.reduce(0, +) }
}

public struct ProxyListenSettings: Sendable {
    /// SO_BINDTODEVICE target; nil listens on every interface (tests on loopback).
    public var device: String?
    public var dhcpPort: UInt16?
    public var pxePort: UInt16?
    /// Port replies to clients go to (68, or a test's port).
    public var clientPort: UInt16
    /// Port relayed replies go to on the relay agent.
    public var relayPort: UInt16
    public var receiveBufferBytes: Int32

    public init(device: String?, dhcpPort: UInt16? = ProxyPort.dhcp.rawValue, pxePort: UInt16? = ProxyPort.pxe.rawValue, clientPort: UInt16 = 68,
                relayPort: UInt16 = ProxyPort.dhcp.rawValue, receiveBufferBytes: Int32 = 1 << 20) {
        self.device = device
        self.dhcpPort = dhcpPort
        self.pxePort = pxePort
        self.clientPort = clientPort
        self.relayPort = relayPort
        self.receiveBufferBytes = receiveBufferBytes
    }
}

public final class ProxyDHCPService: @unchecked Sendable {
    // Mutable state is touched only on the loop's thread while it runs (before `start` and
    // after `stop` no thread reads requests, and the caller's thread may touch it).
    private let running = Mutex<UDPEventLoop?>(nil)
    private var policy: ProxyPolicy
    private let listen: ProxyListenSettings
    private let onEvent: @Sendable (ProxyEvent) -> Void
    private var sockets: [(port: ProxyPort, socket: UDPSocket)] = []
    private var stats = ProxyStatistics()
    private var interfaceNames: [Int32: String] = [:]

    public init(policy: ProxyPolicy, listen: ProxyListenSettings, onEvent: @escaping @Sendable (ProxyEvent) -> Void) {
        self.policy = policy
        self.listen = listen
        self.onEvent = onEvent
    }

    deinit {
        running.withLock { $0 }?.stop()
    }

    /// Runs `work` where the state lives: on the loop while it runs, else right here.
    private func onLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
        guard let loop = running.withLock({ $0 }) else { return work() }
        return loop.sync(work)
    }

    /// Binds every configured port and answers at once (tests). The daemon binds, drops
    /// its last privileges, then serves.
    public func start() throws(UDPError) {
        try bind()
        do throws(UDPError) {
            try serve()
        } catch {
            stop()
            throw error
        }
    }

    /// Binds every configured port, reading nothing yet: requests wait in the sockets'
    /// receive queues until `serve`. On failure nothing stays bound.
    public func bind() throws(UDPError) {
        var bound: [(ProxyPort, UDPSocket)] = []
        let wanted: [(ProxyPort, UInt16?)] = [(.dhcp, listen.dhcpPort), (.pxe, listen.pxePort)]
        for case let (kind, port?) in wanted {
            do throws(UDPError) {
                let socket = try UDPSocket(UDPSocketOptions(
                    port: port, device: listen.device, broadcast: true, reuseAddress: true, packetInfo: true,
                    receiveBufferBytes: listen.receiveBufferBytes))
                bound.append((kind, socket))
            } catch {
                bound.forEach { $0.1.close() }
                throw error
            }
        }
        // Requests up to 64 KiB are read whole, so an oversized one is reported as such.
        let loop: UDPEventLoop
        do throws(UDPError) {
            loop = try UDPEventLoop(label: "proxy-dhcp", bufferSize: 65536)
        } catch {
            bound.forEach { $0.1.close() }
            throw error
        }
        let opened = bound.map { (port: $0.0, socket: $0.1) }
        loop.sync { self.sockets = opened }
        running.withLock { $0 = loop }
    }

    /// Answers what the bound ports receive, those already queued first.
    public func serve() throws(UDPError) {
        guard let loop = running.withLock({ $0 }) else { return }
        let added = loop.sync { () -> UDPError? in
            for (kind, socket) in self.sockets {
                do throws(UDPError) {
                    // A burst of clients fills the queue: several requests per turn.
                    try loop.add(socket, batch: 16) { [weak self] datagram in
                        self?.handle(datagram, port: kind, socket: socket)
                    }
                } catch {
                    return error
                }
            }
            return nil
        }
        if let added { throw added }
    }

    public func stop() {
        guard let loop = running.withLock({ $0 }) else { return }
        loop.sync {
            self.sockets.forEach {
                loop.remove($0.socket)
                $0.socket.close()
            }
            self.sockets = []
        }
        loop.stop()
        running.withLock { $0 = nil }
    }

    /// Bound ports, for tests that bind port 0.
    public var boundPorts: [ProxyPort: UInt16] {
        onLoop { Dictionary(uniqueKeysWithValues: self.sockets.map { ($0.port, $0.socket.localPort) }) }
    }

    public var statistics: ProxyStatistics { onLoop { self.stats } }

    /// Swaps the policy (config reload); requests already being handled finish with the old one.
    public func replacePolicy(_ newPolicy: ProxyPolicy) {
        if let loop = running.withLock({ $0 }) {
            loop.execute { self.policy = newPolicy }
        } else {
            policy = newPolicy
        }
    }

    private func interfaceName(_ index: Int32?) -> String? {
        guard let index else { return nil }
        if let name = interfaceNames[index] { return name }
        let name = NetworkInterface.withIndex(index)?.name
        if let name { interfaceNames[index] = name }
        return name
    }

    private func handle(_ datagram: Datagram, port: ProxyPort, socket: UDPSocket) {
        stats.received += 1
        let nic = interfaceName(datagram.interfaceIndex)
        let request: DHCPPacket
        do throws(DHCPParseError) {
            if datagram.truncated { throw .oversize(length: datagram.bytes.count) }
            request = try DHCPPacket(parsing: datagram.bytes)
        } catch {
            stats.malformed[error.counterName, default: 0] += 1
            onEvent(.malformed(error, from: datagram.source.description, interface: nic))
            return
        }
        switch policy.decide(request, port: port) {
        case .ignore(let reason, let summary):
            stats.ignored[reason.counterName, default: 0] += 1
            onEvent(.ignored(reason, summary, interface: nic))
        case .reply(let reply, let destination, let bootfile, let summary):
            let target: IPv4Endpoint
            var pinInterface: Int32?
            switch destination {
            case .broadcast:
                target = IPv4Endpoint(address: .broadcast, port: listen.clientPort)
                pinInterface = datagram.interfaceIndex
            case .client(let ip):
                target = IPv4Endpoint(address: ip, port: listen.clientPort)
            case .relay(let ip):
                target = IPv4Endpoint(address: ip, port: listen.relayPort)
            case .sender:
                target = datagram.source
            }
            do {
                try socket.send(reply.serialize(), to: target, interfaceIndex: pinInterface)
                stats.answered += 1
                onEvent(.answered(summary, bootfile: bootfile, replyTo: target.description, interface: nic))
            } catch {
                stats.sendErrors += 1
                onEvent(.sendFailed(error.description, summary))
            }
        }
    }
}
