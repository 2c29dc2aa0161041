import Daemon
import DHCP
import Dispatch
import Foundation
import NetworkAddresses
import Testing
import UDP

/// The service on real sockets over loopback: the paths that answer unicast (:4011 and
/// relayed :67) can be checked without a network namespace. Broadcast replies are
/// checked end to end with real firmware in the namespace tests.
@Suite("proxyDHCP service on loopback")
struct ProxyDHCPServiceTests {
    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [ProxyEvent] = []
        func add(_ e: ProxyEvent) { lock.lock(); items.append(e); lock.unlock() }
        var all: [ProxyEvent] { lock.lock(); defer { lock.unlock() }; return items }
    }

    func makeService(relayPort: UInt16, events: Events) throws -> ProxyDHCPService {
        let policy = ProxyPolicy(settings: ProxySettings(serverAddress: IPv4Address(127, 0, 0, 1), httpBaseURL: "http://127.0.0.1:8080"))
        let service = ProxyDHCPService(
            policy: policy,
            listen: ProxyListenSettings(device: nil, dhcpPort: 0, pxePort: 0, clientPort: 0, relayPort: relayPort),
            onEvent: { events.add($0) })
        try service.start()
        return service
    }

    /// Waits (bounded) for one datagram on a non-blocking socket.
    func receive(_ socket: UDPSocket, within seconds: Double = 60) -> Datagram? {
        let deadline = DispatchTime.now() + seconds
        while DispatchTime.now() < deadline {
            if let d = socket.receiveNow() { return d }
            usleep(1000)
        }
        return nil
    }

    @Test("REQUEST on the PXE port is answered with an ACK to the sender")
    func pxePort() throws {
        let client = try UDPSocket(UDPSocketOptions(port: 0))
        defer { client.close() }
        let events = Events()
        let service = try makeService(relayPort: 67, events: events)
        defer { service.stop() }
        let port = try #require(service.boundPorts[.pxe])
        let request = DHCPPacket(op: .request, xid: 42, ciaddr: IPv4Address(127, 0, 0, 1), chaddr: [2, 0, 0, 0, 0, 1], options: [
            DHCPOption(.messageType, [DHCPMessageType.request.rawValue]),
            DHCPOption(.clientSystemArchitecture, [0, 7]),
            DHCPOption(.vendorClassIdentifier, Array("PXEClient:Arch:00007:UNDI:003000".utf8)),
        ])
        try client.send(request.serialize(), to: IPv4Endpoint("127.0.0.1", port: port)!)
        let datagram = try #require(receive(client))
        let reply = try DHCPPacket(parsing: datagram.bytes)
        #expect(reply.messageType == .ack)
        #expect(reply.xid == 42)
        #expect(reply.bootFileName == "snponly.efi")
        #expect(service.statistics.answered == 1)
    }

    @Test("a relayed DISCOVER is answered to the relay; garbage and non-PXE are counted, not fatal")
    func relayAndBadInput() throws {
        let relay = try UDPSocket(UDPSocketOptions(port: 0))
        defer { relay.close() }
        let events = Events()
        let service = try makeService(relayPort: relay.localPort, events: events)
        defer { service.stop() }
        let port = try #require(service.boundPorts[.dhcp])
        let target = IPv4Endpoint("127.0.0.1", port: port)!

        try relay.send([1, 2, 3], to: target)                                   // truncated
        try relay.send([UInt8](repeating: 0, count: 20_000), to: target)        // oversize
        var plain = DHCPPacket(op: .request, xid: 7, giaddr: IPv4Address(127, 0, 0, 1), chaddr: [2, 0, 0, 0, 0, 2],
                               options: [DHCPOption(.messageType, [1]), DHCPOption(.vendorClassIdentifier, Array("d-i".utf8))])
        try relay.send(plain.serialize(), to: target)                            // not PXE
        plain.optionArea = DHCPOptionArea(options: [
            DHCPOption(.messageType, [1]), DHCPOption(.clientSystemArchitecture, [0, 0]),
            DHCPOption(.vendorClassIdentifier, Array("PXEClient:Arch:00000:UNDI:002001".utf8)),
        ])
        plain.xid = 8
        try relay.send(plain.serialize(), to: target)                            // PXE, relayed

        let datagram = try #require(receive(relay))
        let reply = try DHCPPacket(parsing: datagram.bytes)
        #expect(reply.xid == 8)
        #expect(reply.messageType == .offer)
        #expect(reply.giaddr == IPv4Address(127, 0, 0, 1))
        #expect(reply.bootFileName == "undionly.kpxe")
        let stats = service.statistics
        #expect(stats.received == 4)
        #expect(stats.malformed == ["truncated": 1, "oversize": 1])
        #expect(stats.ignored == ["not-pxe": 1])
        #expect(stats.answered == 1)
    }
}
