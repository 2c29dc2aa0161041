import DHCP
import NetworkAddresses
import Testing
import TestSupport

/// What a workshop LAN throws at the proxy besides PXE firmware: Windows and phones asking
/// for leases, another boot server's clients, hand-made packets. BadInputTests covers the
/// parse errors one by one; here the shapes that parse, and the two properties that keep
/// the LAN safe whatever comes in: no answer to a client that is not PXE, and never an
/// address (yiaddr) in an answer.
@Suite("DHCP hostile input and the never-harm-the-LAN property")
struct HostileInputTests {
    static let server = IPv4Address(10, 77, 0, 2)
    static let settings = ProxySettings(serverAddress: server, httpBaseURL: "http://10.77.0.2:8080")
    let policy = ProxyPolicy(settings: settings)

    static let captures = [
        "seabios-ipxe-rom.pcap", "ovmf-edk2-pxe.pcap", "ipxe-efi-second-stage.pcap", "undionly-second-stage.pcap",
        "ovmf-edk2-opt43-bypass.pcap", "ovmf-edk2-file-no43.pcap",
    ]

    /// Every DHCP payload in the captures, requests and the reference server's replies.
    static func capturedPayloads() throws -> [[UInt8]] {
        try captures.flatMap { try Pcap.udpPackets($0) }.filter { [67, 68, 4011].contains($0.destinationPort) }.map(\.payload)
    }

    /// The property itself, checked on one decision.
    static func checkNeverHarms(_ request: DHCPPacket, _ decision: ProxyDecision, port: ProxyPort,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .reply(let reply, _, _, _) = decision else { return }
        let vendorClass = request.vendorClassIdentifier ?? ""
        #expect(vendorClass.hasPrefix("PXEClient") || vendorClass.hasPrefix("HTTPClient"),
                "answered a client whose vendor class is \(vendorClass.debugDescription)", sourceLocation: sourceLocation)
        #expect(request.op == 1, "answered a packet that is not a BOOTREQUEST", sourceLocation: sourceLocation)
        #expect(reply.yiaddr == .zero, "offered an address", sourceLocation: sourceLocation)
        #expect(reply.op == 2, sourceLocation: sourceLocation)
        #expect(reply.serverIdentifier == server, sourceLocation: sourceLocation)
        // Never an address lease, whatever the client asked for.
        for code: UInt8 in [1, 3, 6, 51, 58, 59] {
            #expect(reply.option(code) == nil, "reply carries option \(code)", sourceLocation: sourceLocation)
        }
        let wire = reply.serialize()
        #expect(wire.count <= 1472, "reply of \(wire.count) bytes does not fit one frame", sourceLocation: sourceLocation)
        if let parsed = try? DHCPPacket(parsing: wire) {
            #expect(parsed.yiaddr == .zero, sourceLocation: sourceLocation)
        } else {
            Issue.record("the reply does not parse", sourceLocation: sourceLocation)
        }
    }

    static let vendorClasses: [String?] = [
        nil, "", "MSFT 5.0", "android-dhcp-14", "udhcp 1.36.1", "dhcpcd-10.0.6:Linux-6.1.0:x86_64:GenuineIntel",
        "PXEClient", "PXEClient:Arch:00000:UNDI:002001", "PXEClient:Arch:00007:UNDI:003016", "PXEClient:Arch:99999",
        "HTTPClient:Arch:00016:UNDI:003001", "pxeclient:arch:00000", "PXECLIENT", " PXEClient", "XPXEClient",
        "PXEClien", "HTTPClien", "PXEClient\u{0}", "Anaconda-Linux", "d-i",
    ]

    /// A request as a random client would build it: any op, message type, architecture,
    /// vendor class, addresses (yiaddr included), server id, overload, junk options.
    static func randomRequest(_ rng: inout SplitMix64) -> DHCPPacket {
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        func ip() -> IPv4Address {
            rng.next() % 3 == 0 ? .zero : IPv4Address(UInt8(truncatingIfNeeded: rng.next()), UInt8(truncatingIfNeeded: rng.next()),
                                                      UInt8(truncatingIfNeeded: rng.next()), UInt8(truncatingIfNeeded: rng.next()))
        }
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        var options: [DHCPOption] = []
        if rng.next() % 8 != 0 { options.append(DHCPOption(.messageType, [UInt8(rng.next() % 10)])) }
        if rng.next() % 2 == 0 { options.append(DHCPOption(.clientSystemArchitecture, rng.next() % 4 == 0 ? bytes(Int(rng.next() % 5)) : [0, pick([0, 6, 7, 9, 11, 16, 200])])) }
        if let vc = pick(vendorClasses) { options.append(DHCPOption(.vendorClassIdentifier, Array(vc.utf8))) }
        if rng.next() % 3 == 0 { options.append(DHCPOption(.serverIdentifier, rng.next() % 2 == 0 ? server.bytes : ip().bytes)) }
        if rng.next() % 3 == 0 { options.append(DHCPOption(.clientMachineIdentifier, bytes(pick([0, 1, 17, 17, 300, 2000])))) }
        if rng.next() % 3 == 0 { options.append(DHCPOption(.userClass, pick([Array("iPXE".utf8), [4] + Array("iPXE".utf8), bytes(Int(rng.next() % 40))]))) }
        if rng.next() % 4 == 0 { options.append(DHCPOption(.vendorSpecific, bytes(Int(rng.next() % 60)))) }
        if rng.next() % 5 == 0 { options.append(DHCPOption(.ipxeEncapsulated, bytes(Int(rng.next() % 30)))) }
        if rng.next() % 6 == 0 { options.append(DHCPOption(50, ip().bytes)) }  // requested address
        for _ in 0..<Int(rng.next() % 4) { options.append(DHCPOption(UInt8(1 + rng.next() % 253), bytes(Int(rng.next() % 20)))) }
        var packet = DHCPPacket(
            op: rng.next() % 6 == 0 ? .reply : .request, htype: rng.next() % 10 == 0 ? 6 : 1, hlen: rng.next() % 10 == 0 ? 16 : 6,
            xid: UInt32(truncatingIfNeeded: rng.next()), flags: UInt16(truncatingIfNeeded: rng.next()),
            ciaddr: ip(), yiaddr: ip(), siaddr: ip(), giaddr: ip(), chaddr: bytes(16), options: options)
        if rng.next() % 8 == 0 {
            // Overload: options hidden in `file`, sometimes with another option 52 inside.
            let inner: [UInt8] = rng.next() % 2 == 0 ? [52, 1, 3, 60, 9] + Array("PXEClient".utf8) + [255] : [60, 7] + Array("MSFT 5.".utf8) + [255]
            packet = DHCPPacket(op: .request, xid: packet.xid, ciaddr: packet.ciaddr, yiaddr: packet.yiaddr, chaddr: packet.chaddr,
                                options: options + [DHCPOption(.overload, [1])])
            packet.file = inner + [UInt8](repeating: 0, count: 128 - inner.count)
        }
        return packet
    }

    @Test("never an answer to a non-PXE client, never a non-zero yiaddr: 20 000 random requests on both ports")
    func propertyOnRandomRequests() {
        var rng = SplitMix64(seed: 0x5058_4543_6c69)
        var answered = 0
        for _ in 0..<20_000 {
            let built = Self.randomRequest(&rng)
            // What goes on the wire is what the daemon parses.
            guard let request = try? DHCPPacket(parsing: built.serialize()) else { continue }
            for port in [ProxyPort.dhcp, .pxe] {
                let decision = policy.decide(request, port: port)
                Self.checkNeverHarms(request, decision, port: port)
                if case .reply = decision { answered += 1 }
            }
        }
        // The generator must reach the answering path often, or the property says nothing.
        #expect(answered > 800)
    }

    @Test("the same property over the captured packets and 50 000 byte-level mutations of them")
    func propertyOnMutatedCaptures() throws {
        let seeds = try Self.capturedPayloads()
        #expect(seeds.count >= 18)
        var rng = SplitMix64(seed: 0x6361_7074)
        var parsed = 0
        var answered = 0
        for i in 0..<(50_000 + seeds.count) {
            var b = seeds[i % seeds.count]
            if i >= seeds.count {
                for _ in 0..<(1 + Int(rng.next() % 6)) {
                    let at = Int(rng.next() % UInt64(b.count))
                    switch rng.next() % 4 {
                    case 0: b[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: b[at] ^= 1 << UInt8(rng.next() % 8)
                    case 2: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                    default: if b.count > 1 { b.remove(at: at) }
                    }
                }
                // The yiaddr a lease-giving server would set: the proxy must still send zero.
                if rng.next() % 4 == 0 && b.count >= 20 { b[16] = 10; b[17] = 77; b[18] = 0; b[19] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            guard let request = try? DHCPPacket(parsing: b) else { continue }
            parsed += 1
            for port in [ProxyPort.dhcp, .pxe] {
                let decision = policy.decide(request, port: port)
                Self.checkNeverHarms(request, decision, port: port)
                if case .reply = decision { answered += 1 }
            }
        }
        #expect(parsed > 5_000)
        #expect(answered > 500)
    }

    @Test("Windows, Android, Linux and embedded clients asking for a lease are ignored as not-pxe",
          arguments: ["MSFT 5.0", "android-dhcp-14", "udhcp 1.36.1", "dhcpcd-10.0.6:Linux", "pxeclient", "XPXEClient"])
    func nonPXEClients(vendorClass: String) throws {
        for type in [DHCPMessageType.discover, .request, .inform] {
            let request = TestPackets.pxeRequest(type: type, vendorClass: vendorClass)
            for port in [ProxyPort.dhcp, .pxe] {
                let decision = policy.decide(try DHCPPacket(parsing: request.serialize()), port: port)
                #expect(decision == .ignore(.notPXEClient(vendorClass: vendorClass), summary: decision.summary))
            }
        }
        var noVendorClass = TestPackets.pxeRequest()
        noVendorClass = DHCPPacket(op: .request, xid: 1, chaddr: TestPackets.mac,
                                   options: noVendorClass.options.filter { $0.code != DHCPOptionCode.vendorClassIdentifier.rawValue })
        guard case .ignore(.notPXEClient(nil), _) = policy.decide(noVendorClass, port: .dhcp) else {
            Issue.record("a client without option 60 was not ignored as not-pxe")
            return
        }
    }

    @Test("a spoofed or foreign server identifier: :4011 requests for another server are ignored, a REQUEST on :67 never answered")
    func spoofedServerIdentifier() throws {
        let foreign = IPv4Address(10, 77, 0, 254)
        let toOther = TestPackets.pxeRequest(type: .request, arch: 7, extra: [DHCPOption(.serverIdentifier, foreign.bytes)])
        guard case .ignore(.addressedToAnotherServer(foreign), _) = policy.decide(try DHCPPacket(parsing: toOther.serialize()), port: .pxe) else {
            Issue.record("a :4011 REQUEST for another server was answered")
            return
        }
        // On :67 a REQUEST picks some server's lease: never ours to answer, whatever id it names.
        for sid in [foreign, Self.server, IPv4Address.zero] {
            let request = TestPackets.pxeRequest(type: .request, extra: [DHCPOption(.serverIdentifier, sid.bytes)])
            guard case .ignore(.messageTypeNotAnsweredOnPort(.request, .dhcp), _) = policy.decide(request, port: .dhcp) else {
                Issue.record("a REQUEST naming \(sid) on :67 was answered")
                continue
            }
        }
        // A DISCOVER that names us (or anyone) is answered with our own identity only.
        let named = TestPackets.pxeRequest(extra: [DHCPOption(.serverIdentifier, foreign.bytes)])
        guard case .reply(let reply, _, _, _) = policy.decide(named, port: .dhcp) else { Issue.record("no offer"); return }
        #expect(reply.serverIdentifier == Self.server)
        #expect(reply.siaddr == Self.server)
    }

    @Test("overload loops: option 52 inside the overloaded fields is ignored, the packet reads once and is answered")
    func overloadLoops() throws {
        var p = TestPackets.pxeRequest(extra: [DHCPOption(.overload, [3])])
        // `file` says "overload both" again and carries part of the vendor class; `sname`
        // points back at `file`.
        let fileArea: [UInt8] = [52, 1, 3, 77, 5, 4] + Array("iPXE".utf8) + [255]
        let snameArea: [UInt8] = [52, 1, 1, 52, 1, 2, 255]
        p.file = fileArea + [UInt8](repeating: 0, count: 128 - fileArea.count)
        p.sname = snameArea + [UInt8](repeating: 0, count: 64 - snameArea.count)
        let parsed = try DHCPPacket(parsing: p.serialize())
        #expect(parsed.option(.overload) == [3])
        #expect(parsed.userClasses == ["iPXE"])
        guard case .reply(let reply, _, let bootfile, _) = policy.decide(parsed, port: .dhcp) else { Issue.record("no reply"); return }
        #expect(bootfile == "http://10.77.0.2:8080/boot.ipxe")
        #expect(reply.yiaddr == .zero)
    }

    @Test("an option area of thousands of pads and empty options, and an 8 KiB concatenated option, parse within bounds")
    func pathologicalOptionAreas() throws {
        let header = Array(TestPackets.pxeRequest().serialize().prefix(240))
        let pads = header + [53, 1, 1] + [UInt8](repeating: 0, count: DHCPPacket.maximumLength - 244) + [255]
        #expect(try DHCPPacket(parsing: pads).messageType == .discover)
        var empties = header + [53, 1, 1, 60, 9] + Array("PXEClient".utf8)
        while empties.count + 2 < DHCPPacket.maximumLength { empties += [224, 0] }
        #expect(try DHCPPacket(parsing: empties).vendorClassIdentifier == "PXEClient")
        // RFC 3396: many instances of 97 concatenate into one 7 KiB "GUID".
        var long = header + [53, 1, 1, 60, 9] + Array("PXEClient".utf8)
        while long.count + 257 < DHCPPacket.maximumLength { long += [97, 255] + [UInt8](repeating: 0xab, count: 255) }
        let request = try DHCPPacket(parsing: long)
        #expect((request.clientMachineIdentifier?.count ?? 0) > 7_000)
        let decision = policy.decide(request, port: .dhcp)
        Self.checkNeverHarms(request, decision, port: .dhcp)
    }
}
