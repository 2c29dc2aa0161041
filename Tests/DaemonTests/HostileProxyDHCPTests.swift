import Daemon
import DHCP
import Dispatch
import Foundation
import NetworkAddresses
import Testing
import TestSupport
import UDP

/// The proxy service on loopback under what a bad LAN sends: every kind of bad datagram
/// lands in its own counter, a flood from 10 000 random MACs leaves no state behind, and a
/// real PXE client is answered afterwards. Replies go unicast (relayed DISCOVERs and :4011
/// exchanges), so nothing is broadcast on the host's interfaces.
@Suite("proxyDHCP service under hostile traffic, on loopback")
struct HostileProxyDHCPTests {
    let helper = ProxyDHCPServiceTests()

    /// The service on loopback ports of its own; events are only counted, so the test
    /// itself retains nothing per request.
    func makeService(relayPort: UInt16) throws -> ProxyDHCPService {
        let policy = ProxyPolicy(settings: ProxySettings(serverAddress: IPv4Address(127, 0, 0, 1), httpBaseURL: "http://127.0.0.1:8080"))
        let service = ProxyDHCPService(
            policy: policy,
            listen: ProxyListenSettings(device: nil, dhcpPort: 0, pxePort: 0, clientPort: 0, relayPort: relayPort),
            onEvent: { _ in })
        try service.start()
        return service
    }

    /// Waits (bounded) until the service has read `count` datagrams.
    func waitReceived(_ service: ProxyDHCPService, _ count: Int, seconds: Double = 120) -> ProxyStatistics {
        let deadline = DispatchTime.now() + seconds
        var s = service.statistics
        while s.received < count && DispatchTime.now() < deadline {
            usleep(1000)
            s = service.statistics
        }
        return s
    }

    func pxeDiscover(mac: [UInt8], xid: UInt32) -> DHCPPacket {
        DHCPPacket(op: .request, xid: xid, giaddr: IPv4Address(127, 0, 0, 1), chaddr: mac, options: [
            DHCPOption(.messageType, [DHCPMessageType.discover.rawValue]), DHCPOption(.clientSystemArchitecture, [0, 0]),
            DHCPOption(.vendorClassIdentifier, Array("PXEClient:Arch:00000:UNDI:002001".utf8)),
        ])
    }

    /// A real client's exchange on :4011 after the abuse: REQUEST in, ACK with the loader out.
    func legitimateClientAnswered(_ service: ProxyDHCPService) throws {
        let client = try UDPSocket(UDPSocketOptions(port: 0))
        defer { client.close() }
        let port = try #require(service.boundPorts[.pxe])
        let request = DHCPPacket(op: .request, xid: 0x600d, ciaddr: IPv4Address(127, 0, 0, 1), chaddr: [2, 0, 0, 0, 0x60, 0x0d], options: [
            DHCPOption(.messageType, [DHCPMessageType.request.rawValue]), DHCPOption(.clientSystemArchitecture, [0, 7]),
            DHCPOption(.vendorClassIdentifier, Array("PXEClient:Arch:00007:UNDI:003000".utf8)),
        ])
        try client.send(request.serialize(), to: IPv4Endpoint("127.0.0.1", port: port)!)
        let datagram = try #require(helper.receive(client))
        let reply = try DHCPPacket(parsing: datagram.bytes)
        #expect(reply.xid == 0x600d)
        #expect(reply.messageType == .ack)
        #expect(reply.bootFileName == "snponly.efi")
        #expect(reply.yiaddr == .zero)
    }

    @Test("each kind of bad datagram has its counter; the service keeps answering")
    func everyKindCounted() throws {
        let sender = try UDPSocket(UDPSocketOptions(port: 0))
        defer { sender.close() }
        let service = try makeService(relayPort: sender.localPort)
        defer { service.stop() }
        let target = IPv4Endpoint("127.0.0.1", port: try #require(service.boundPorts[.dhcp]))!
        let valid = pxeDiscover(mac: [2, 0, 0, 0, 0, 1], xid: 1)
        var noCookie = valid.serialize()
        noCookie[236] = 0x42
        var overrun = Array(valid.serialize().prefix(240))
        overrun += [53, 1, 1, 60, 200, 0x50]
        var badOverload = valid
        badOverload.optionArea = DHCPOptionArea(options: valid.options + [DHCPOption(.overload, [9])])
        var overloadNoEnd = valid
        overloadNoEnd.optionArea = DHCPOptionArea(options: valid.options + [DHCPOption(.overload, [1])])
        overloadNoEnd.file = [UInt8](repeating: 0, count: 128)
        var notRequest = valid
        notRequest.op = 2
        var notEthernet = valid
        notEthernet.htype = 6
        var plainBOOTP = valid
        plainBOOTP.optionArea = DHCPOptionArea(options: valid.options.filter { $0.code != 53 })
        var windows = valid
        windows.optionArea = DHCPOptionArea(options: [DHCPOption(.messageType, [1]), DHCPOption(.vendorClassIdentifier, Array("MSFT 5.0".utf8))])
        var request67 = valid
        request67.optionArea = DHCPOptionArea(options: [DHCPOption(.messageType, [3])] + valid.options.filter { $0.code != 53 })
        var unknownArch = valid
        unknownArch.optionArea = DHCPOptionArea(options: valid.options.filter { $0.code != 93 } + [DHCPOption(.clientSystemArchitecture, [0x12, 0x34])])

        let hostile: [[UInt8]] = [
            [], [1], Array(valid.serialize().prefix(239)), [UInt8](repeating: 0xff, count: 9000), noCookie, overrun,
            badOverload.serialize(), overloadNoEnd.serialize(), notRequest.serialize(), notEthernet.serialize(),
            plainBOOTP.serialize(), windows.serialize(), request67.serialize(), unknownArch.serialize(),
        ]
        for bytes in hostile { try sender.send(bytes, to: target) }
        let s = waitReceived(service, hostile.count)
        #expect(s.received == hostile.count)
        #expect(s.malformed == ["truncated": 3, "oversize": 1, "no-cookie": 1, "option-overrun": 1, "bad-overload": 1, "missing-end": 1])
        #expect(s.ignored == ["not-request": 1, "not-ethernet": 1, "no-message-type": 1, "not-pxe": 1,
                              "other-message-type": 1, "unknown-arch": 1])
        #expect(s.answered == 0)
        #expect(helper.receive(sender, within: 0.2) == nil, "nothing hostile may be answered")
        try legitimateClientAnswered(service)
    }

    @Test("1 000 DISCOVERs from random MACs: each answered and counted as answered, a real client still answered")
    func discoverFlood() throws {
        let relay = try UDPSocket(UDPSocketOptions(port: 0))
        defer { relay.close() }
        let service = try makeService(relayPort: relay.localPort)
        defer { service.stop() }
        let target = IPv4Endpoint("127.0.0.1", port: try #require(service.boundPorts[.dhcp]))!
        var rng = SplitMix64(seed: 0xf100d)
        var replies = 0
        // In bursts the socket buffers hold, so the kernel drops none and every request
        // reaches the service; the replies are drained as they come.
        for burst in 1...10 {
            for _ in 0..<100 {
                let mac = (0..<6).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                try relay.send(pxeDiscover(mac: mac, xid: UInt32(truncatingIfNeeded: rng.next())).serialize(), to: target)
            }
            _ = waitReceived(service, burst * 100)
            while relay.receiveNow() != nil { replies += 1 }
        }
        _ = waitUntil(120) { service.statistics.answered >= 1_000 }
        while let _ = helper.receive(relay, within: 0.2) { replies += 1 }
        let s = service.statistics
        #expect(s.received == 1_000)
        #expect(s.answered == 1_000)
        #expect(s.malformedTotal == 0 && s.ignoredTotal == 0)
        #expect(replies == 1_000, "the relay got \(replies) offers")
        try legitimateClientAnswered(service)
    }
}

/// The real daemon in a network namespace of its own, flooded from the other end of its LAN
/// link as PCs would flood it: its memory is measured in its own process, where nothing
/// else allocates.
@Suite("the real daemon under a DISCOVER flood", .serialized)
struct DaemonFloodTests {
    /// Resident memory of process `pid`, from /proc/PID/statm.
    static func residentBytes(of pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test("10 000 DISCOVERs from random MACs on the daemon's LAN: every one offered, the daemon's resident memory grows by less than 2 MiB")
    func discoverFloodRealDaemon() throws {
        let ns = try NetworkNamespace(prefix: "gpxflood")
        defer { ns.remove() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-flood-\(getpid())-\(UInt32.random(in: 0..<1_000_000))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images")
        try TestImages.create(in: images)
        let log = dir.appendingPathComponent("daemon.log")
        let daemon = try ns.spawnDaemon(images: images, state: dir.appendingPathComponent("state"), output: log)
        defer { stop(daemon) }
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        try #require(waitUntil(60) { logText().contains("garage-pxe started") }, "the daemon did not start:\n\(logText())")

        // A PC's side of the link: eth1, the veth peer of the daemon's eth0. DISCOVERs are
        // broadcast out of it and the daemon's broadcast offers come back into it, on :68.
        // Both ends are in one namespace, so each datagram arrives with a source address
        // that is local here: accept_local keeps the kernel from dropping it as a martian.
        try run("/usr/sbin/ip", ["netns", "exec", ns.name, "/usr/sbin/sysctl", "-qw", "net.ipv4.conf.all.accept_local=1",
                                 "net.ipv4.conf.eth0.accept_local=1", "net.ipv4.conf.eth1.accept_local=1"])
        let client = try ns.inside {
            try UDPSocket(UDPSocketOptions(port: 68, device: "eth1", broadcast: true, reuseAddress: true, receiveBufferBytes: 1 << 20))
        }
        defer { client.close() }
        let server = IPv4Endpoint(address: .broadcast, port: 67)
        var rng = SplitMix64(seed: 0xf100d)
        var offered = 0
        /// Sends `count` DISCOVERs in bursts of 100 and waits (bounded) for each burst's offers,
        /// so no socket buffer overflows and every request is known to have been handled.
        func flood(_ count: Int) throws {
            for _ in 0..<(count / 100) {
                var waiting = Set<UInt32>()
                for _ in 0..<100 {
                    let mac = (0..<6).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    let xid = UInt32(truncatingIfNeeded: rng.next())
                    waiting.insert(xid)
                    let discover = DHCPPacket(op: .request, xid: xid, flags: 0x8000, chaddr: mac, options: [
                        DHCPOption(.messageType, [DHCPMessageType.discover.rawValue]), DHCPOption(.clientSystemArchitecture, [0, 7]),
                        DHCPOption(.vendorClassIdentifier, Array("PXEClient:Arch:00007:UNDI:003000".utf8)),
                    ])
                    try client.send(discover.serialize(), to: server)
                }
                let answered = waitUntil(60) {
                    while let datagram = client.receiveNow() {
                        if let reply = try? DHCPPacket(parsing: datagram.bytes), reply.messageType == .offer,
                           waiting.remove(reply.xid) != nil { offered += 1 }
                    }
                    return waiting.isEmpty
                }
                try #require(answered, "\(waiting.count) of 100 DISCOVERs got no offer within 60 s:\n\(logText().suffix(2000))")
            }
        }
        try flood(1_000)  // warm-up: buffers, caches, the allocator's first arenas
        let before = try #require(Self.residentBytes(of: daemon.processIdentifier))
        try flood(10_000)
        let after = try #require(Self.residentBytes(of: daemon.processIdentifier))
        #expect(offered == 11_000)
        #expect(daemon.isRunning)
        // The proxy keeps no table per client: 10 000 new MACs must not grow the daemon by
        // anything near one retained request each (about 600 bytes with its buffer); 2 MiB
        // is 200 bytes a MAC.
        // AddressSanitizer keeps freed memory in quarantine: no bound to check there.
        if dlsym(nil, "__asan_init") == nil {
            #expect(after - before < 2 << 20, "the daemon's resident memory grew by \((after - before) >> 10) KiB")
        }
        print("discover flood: daemon RSS \(before >> 10) KiB before, \(after >> 10) KiB after 10 000 DISCOVERs")
    }
}
