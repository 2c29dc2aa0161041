import DHCP
import NetworkAddresses
import Testing

@Suite("proxyDHCP policy")
struct PolicyTests {
    static let server = IPv4Address(10, 77, 0, 2)
    let policy = ProxyPolicy(settings: ProxySettings(serverAddress: server, httpBaseURL: "http://10.77.0.2:8080"))

    func reply(_ request: DHCPPacket, port: ProxyPort = .dhcp, policy: ProxyPolicy? = nil) throws -> (DHCPPacket, ProxyReplyDestination, String) {
        let decision = (policy ?? self.policy).decide(try DHCPPacket(parsing: request.serialize()), port: port)
        guard case .reply(let packet, let destination, let bootfile, _) = decision else {
            Issue.record("expected a reply, got \(decision)")
            throw Stop()
        }
        // What goes on the wire must parse back to the same thing.
        #expect(try DHCPPacket(parsing: packet.serialize()) == packet)
        return (packet, destination, bootfile)
    }

    struct Stop: Error {}

    /// UEFI's iPXE by default: snponly.efi, whose `exit` returns to the firmware.
    @Test("bootfile by architecture", arguments: [
        (UInt16(0), "undionly.kpxe"), (6, "snponly.efi"), (7, "snponly.efi"), (9, "snponly.efi"),
        (16, "http://10.77.0.2:8080/tftp/snponly.efi"),
    ])
    func bootfileByArch(arch: UInt16, expected: String) throws {
        let (packet, _, bootfile) = try reply(TestPackets.pxeRequest(arch: arch, vendorClass: arch == 16 ? "HTTPClient:Arch:00016:UNDI:003001" : nil))
        #expect(bootfile == expected)
        #expect(packet.bootFileName == expected)
    }

    @Test("an offer never assigns an address and names us everywhere a client looks")
    func offerShape() throws {
        let request = TestPackets.pxeRequest(arch: 0)
        let (p, destination, _) = try reply(request)
        #expect(p.op == 2)
        #expect(p.messageType == .offer)
        #expect(p.yiaddr == .zero)
        #expect(p.ciaddr == .zero)
        #expect(p.siaddr == Self.server)
        #expect(p.serverIdentifier == Self.server)
        #expect(p.vendorClassIdentifier == "PXEClient")
        #expect(p.xid == request.xid)
        #expect(p.flags == request.flags)
        #expect(p.chaddr == request.chaddr)
        #expect(p.clientMachineIdentifier == TestPackets.guid)
        #expect(p.pxeVendorOptions?.discoveryControl == 8)
        #expect(p.serialize().count >= 300)
        #expect(destination == .broadcast)
    }

    @Test("EFI offers carry no option 43 by default, so the firmware asks on :4011")
    func efiNoOption43() throws {
        let (p, _, _) = try reply(TestPackets.pxeRequest(arch: 7))
        #expect(p.option(.vendorSpecific) == nil)
        let custom = ProxyPolicy(settings: ProxySettings(serverAddress: Self.server, httpBaseURL: "http://x", efiDiscoveryControl: 8))
        let (q, _, _) = try reply(TestPackets.pxeRequest(arch: 7), policy: custom)
        #expect(q.pxeVendorOptions?.discoveryControl == 8)
    }

    @Test("option 97 of length 0 is echoed as length 0; absent stays absent")
    func guidEcho() throws {
        #expect(try reply(TestPackets.pxeRequest(guid: [])).0.clientMachineIdentifier == [])
        #expect(try reply(TestPackets.pxeRequest(guid: nil)).0.clientMachineIdentifier == nil)
    }

    @Test("iPXE (option 77 or 175, or our own class) gets the HTTP script: the loop break", arguments: [
        (Array("iPXE".utf8), false), ([4] + Array("iPXE".utf8), false), (nil, true), (Array("garage-pxe".utf8), false),
    ] as [([UInt8]?, Bool)])
    func loopBreak(userClass: [UInt8]?, with175: Bool) throws {
        for arch: UInt16 in [0, 7, 9] {
            let (p, _, bootfile) = try reply(TestPackets.pxeRequest(arch: arch, userClass: userClass, ipxe175: with175))
            #expect(bootfile == "http://10.77.0.2:8080/boot.ipxe")
            #expect(p.bootFileName == bootfile)
        }
    }

    @Test("the SNP-only loader for listed machines and vendors only, whatever the UEFI loader")
    func snponly() throws {
        let mac = MACAddress(bytes: TestPackets.mac)!
        // An admin's UEFI loader (ipxe.efi) and SNP-only loader, told apart.
        func settings(macs: Set<MACAddress> = [], vendors: [[UInt8]] = []) -> ProxyPolicy {
            ProxyPolicy(settings: ProxySettings(serverAddress: Self.server, httpBaseURL: "http://x", efiBootfile: "ipxe.efi",
                                                efiSNPOnlyBootfile: "snp.efi", snponlyMACs: macs, snponlyVendorPrefixes: vendors))
        }
        let byMAC = settings(macs: [mac])
        #expect(try reply(TestPackets.pxeRequest(arch: 7), policy: byMAC).2 == "snp.efi")
        #expect(try reply(TestPackets.pxeRequest(arch: 0), policy: byMAC).2 == "undionly.kpxe")
        #expect(try reply(TestPackets.pxeRequest(arch: 9), policy: settings(vendors: [[0x52, 0x54, 0x00]])).2 == "snp.efi")
        #expect(try reply(TestPackets.pxeRequest(arch: 9), policy: settings(vendors: [[0x00, 0xe0, 0x4c]])).2 == "ipxe.efi")
    }

    @Test("signed chain: UEFI x64 PCs get Debian's signed shim; 32-bit UEFI, listed machines and vendors get iPXE")
    func signedChain() throws {
        var settings = ProxySettings(serverAddress: Self.server, httpBaseURL: "http://x")
        settings.efiSignedChain = true
        let signed = ProxyPolicy(settings: settings)
        #expect(try reply(TestPackets.pxeRequest(arch: 7), policy: signed).2 == "debian-installer/amd64/bootnetx64.efi")
        #expect(try reply(TestPackets.pxeRequest(arch: 9), policy: signed).2 == "debian-installer/amd64/bootnetx64.efi")
        #expect(try reply(TestPackets.pxeRequest(type: .request, arch: 9, ciaddr: IPv4Address(10, 77, 0, 50)), port: .pxe, policy: signed).2 == "debian-installer/amd64/bootnetx64.efi")
        #expect(try reply(TestPackets.pxeRequest(arch: 6), policy: signed).2 == "snponly.efi")
        #expect(try reply(TestPackets.pxeRequest(arch: 0), policy: signed).2 == "undionly.kpxe")
        #expect(ProxySettings.isSignedChainBootfile("debian-installer/amd64/bootnetx64.efi"))
        #expect(!ProxySettings.isSignedChainBootfile("ipxe.efi"))
        var byMAC = settings
        byMAC.efiIPXEMACs = [MACAddress(bytes: TestPackets.mac)!]
        #expect(try reply(TestPackets.pxeRequest(arch: 7), policy: ProxyPolicy(settings: byMAC)).2 == "snponly.efi")
        byMAC.efiBootfile = "ipxe.efi"
        #expect(try reply(TestPackets.pxeRequest(arch: 7), policy: ProxyPolicy(settings: byMAC)).2 == "ipxe.efi")
        var byVendor = settings
        byVendor.efiBootfile = "ipxe.efi"
        byVendor.efiIPXEVendorPrefixes = [[0x52, 0x54, 0x00]]
        byVendor.snponlyVendorPrefixes = [[0x52, 0x54, 0x00]]
        #expect(try reply(TestPackets.pxeRequest(arch: 9), policy: ProxyPolicy(settings: byVendor)).2 == "snponly.efi")
    }

    @Test("UEFI HTTP boot: the signed shim's URL by default; machines and vendors listed for iPXE get iPXE's URL")
    func httpBootSignedChain() throws {
        var settings = ProxySettings(serverAddress: Self.server, httpBaseURL: "http://10.77.0.2:8080")
        settings.efiSignedChain = true
        let http = TestPackets.pxeRequest(arch: 16, vendorClass: "HTTPClient:Arch:00016:UNDI:003000")
        let (p, _, bootfile) = try reply(http, policy: ProxyPolicy(settings: settings))
        #expect(bootfile == "http://10.77.0.2:8080/debian-installer/amd64/bootnetx64.efi")
        #expect(p.bootFileName == bootfile)
        #expect(p.vendorClassIdentifier == "HTTPClient")
        #expect(p.yiaddr == .zero)
        #expect(ProxySettings.isSignedChainBootfile(bootfile))
        var byMAC = settings
        byMAC.efiIPXEMACs = [MACAddress(bytes: TestPackets.mac)!]
        #expect(try reply(http, policy: ProxyPolicy(settings: byMAC)).2 == "http://10.77.0.2:8080/tftp/snponly.efi")
        var byVendor = settings
        byVendor.efiBootfile = "ipxe.efi"
        byVendor.efiIPXEVendorPrefixes = [[0x52, 0x54, 0x00]]
        byVendor.snponlyVendorPrefixes = [[0x52, 0x54, 0x00]]
        #expect(try reply(http, policy: ProxyPolicy(settings: byVendor)).2 == "http://10.77.0.2:8080/tftp/snponly.efi")
    }

    @Test("arm64 is ignored until configured, then served")
    func arm64() throws {
        let d = policy.decide(TestPackets.pxeRequest(arch: 11), port: .dhcp)
        #expect(d == .ignore(.architectureNotConfigured(.efiARM64), summary: d.summary))
        let configured = ProxyPolicy(settings: ProxySettings(serverAddress: Self.server, httpBaseURL: "http://x", arm64Bootfile: "ipxe-arm64.efi"))
        #expect(try reply(TestPackets.pxeRequest(arch: 11), policy: configured).2 == "ipxe-arm64.efi")
    }

    @Test("unknown architectures are ignored with the reason, MAC kept for the log")
    func unknownArch() {
        let d = policy.decide(TestPackets.pxeRequest(arch: 0x1234), port: .dhcp)
        #expect(d == .ignore(.unknownArchitecture(0x1234), summary: d.summary))
        #expect(d.summary.mac?.description == "52:54:00:12:34:56")
    }

    @Test("non-PXE DHCP is ignored: the LAN's server answers it", arguments: [nil, "d-i", "MSFT 5.0", "udhcp 1.36.1", "PXEClien"] as [String?])
    func nonPXE(vendorClass: String?) {
        var request = TestPackets.pxeRequest(arch: 0)
        request.optionArea = DHCPOptionArea(options: request.optionArea.options.filter { $0.code != 60 }
            + (vendorClass.map { [DHCPOption(.vendorClassIdentifier, Array($0.utf8))] } ?? []))
        let d = policy.decide(request, port: .dhcp)
        #expect(d == .ignore(.notPXEClient(vendorClass: vendorClass), summary: d.summary))
    }

    @Test("DISCOVER only on :67; REQUEST and INFORM only on :4011")
    func messageTypesPerPort() throws {
        for type in [DHCPMessageType.request, .inform, .release, .decline] {
            let d = policy.decide(TestPackets.pxeRequest(type: type), port: .dhcp)
            #expect(d == .ignore(.messageTypeNotAnsweredOnPort(type, .dhcp), summary: d.summary))
        }
        let d = policy.decide(TestPackets.pxeRequest(type: .discover), port: .pxe)
        #expect(d == .ignore(.messageTypeNotAnsweredOnPort(.discover, .pxe), summary: d.summary))
        for type in [DHCPMessageType.request, .inform] {
            for arch: UInt16 in [0, 6, 7, 9] {
                let ip = IPv4Address(10, 77, 0, 150)
                let (p, destination, _) = try reply(TestPackets.pxeRequest(type: type, arch: arch, ciaddr: ip), port: .pxe)
                #expect(p.messageType == .ack)
                #expect(p.ciaddr == ip)
                #expect(p.yiaddr == .zero)
                #expect(destination == .sender)
            }
        }
    }

    @Test("a :4011 request's boot item (43/71) is echoed")
    func bootItemEcho() throws {
        let item = PXEVendorOptions(bootItem: .init(type: 0x8000, layer: 0)).serialize()
        let (p, _, _) = try reply(TestPackets.pxeRequest(type: .request, arch: 7, extra: [DHCPOption(.vendorSpecific, item)]), port: .pxe)
        #expect(p.pxeVendorOptions?.bootItem == .init(type: 0x8000, layer: 0))
    }

    @Test("a :4011 request for another server is left to it")
    func otherServer() {
        let d = policy.decide(TestPackets.pxeRequest(type: .request, extra: [DHCPOption(.serverIdentifier, [10, 77, 0, 9])]), port: .pxe)
        #expect(d == .ignore(.addressedToAnotherServer(IPv4Address(10, 77, 0, 9)), summary: d.summary))
    }

    @Test("relayed requests go back to the relay; clients with an address get unicast")
    func destinations() throws {
        #expect(try reply(TestPackets.pxeRequest(giaddr: IPv4Address(10, 9, 0, 1))).1 == .relay(IPv4Address(10, 9, 0, 1)))
        #expect(try reply(TestPackets.pxeRequest(giaddr: IPv4Address(10, 9, 0, 1))).0.giaddr == IPv4Address(10, 9, 0, 1))
        #expect(try reply(TestPackets.pxeRequest(ciaddr: IPv4Address(10, 77, 0, 5))).1 == .client(IPv4Address(10, 77, 0, 5)))
    }

    @Test("HTTP boot clients get option 60 HTTPClient and a full URL")
    func httpClient() throws {
        let (p, _, bootfile) = try reply(TestPackets.pxeRequest(arch: 16, vendorClass: "HTTPClient:Arch:00016:UNDI:003001"))
        #expect(p.vendorClassIdentifier == "HTTPClient")
        #expect(bootfile.hasPrefix("http://"))
        #expect(p.option(.vendorSpecific) == nil)
    }

    @Test("a URL longer than the file field goes in option 67")
    func longBootfile() throws {
        let long = "http://" + String(repeating: "a", count: 150)
        let policy = ProxyPolicy(settings: ProxySettings(serverAddress: Self.server, httpBaseURL: long))
        let (p, _, bootfile) = try reply(TestPackets.pxeRequest(userClass: Array("iPXE".utf8)), policy: policy)
        #expect(p.file.allSatisfy { $0 == 0 })
        #expect(p.option(.bootfileName).map { String(decoding: $0, as: UTF8.self) } == bootfile)
        #expect(p.bootFileName == bootfile)
    }

    @Test("clients without option 93 are read from the vendor class, else taken as BIOS")
    func archFallback() throws {
        var request = TestPackets.pxeRequest(arch: 7)
        request.optionArea = DHCPOptionArea(options: request.optionArea.options.filter { $0.code != 93 })
        #expect(try reply(request).2 == "snponly.efi")
        var legacy = TestPackets.pxeRequest(vendorClass: "PXEClient")
        legacy.optionArea = DHCPOptionArea(options: legacy.optionArea.options.filter { $0.code != 93 })
        #expect(try reply(legacy).2 == "undionly.kpxe")
    }

    @Test("BOOTREPLY, non-Ethernet and plain BOOTP are ignored")
    func notRequests() {
        var r = TestPackets.pxeRequest()
        r.op = 2
        #expect(policy.decide(r, port: .dhcp) == .ignore(.notABootRequest, summary: policy.decide(r, port: .dhcp).summary))
        var t = TestPackets.pxeRequest()
        t.htype = 6
        #expect(policy.decide(t, port: .dhcp) == .ignore(.notEthernet, summary: policy.decide(t, port: .dhcp).summary))
        var b = TestPackets.pxeRequest()
        b.optionArea = DHCPOptionArea(options: b.optionArea.options.filter { $0.code != 53 })
        #expect(policy.decide(b, port: .dhcp) == .ignore(.noMessageType, summary: policy.decide(b, port: .dhcp).summary))
    }
}
