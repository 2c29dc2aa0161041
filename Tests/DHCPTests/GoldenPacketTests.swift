import DHCP
import NetworkAddresses
import Testing

/// Packets captured from real firmware in the lab (Tests/Fixtures/dhcp/README.md says how):
/// each is parsed, must serialize back to the identical bytes, and is answered by the
/// policy; the answers are checked field by field against what that client needs, and
/// against what the reference proxy (dnsmasq) answered in the same capture.
@Suite("golden packets from real clients")
struct GoldenPacketTests {
    static let server = IPv4Address(10, 77, 0, 2)
    let policy = ProxyPolicy(settings: ProxySettings(serverAddress: server, httpBaseURL: "http://10.77.0.2:8080"))

    struct Captured {
        var udp: PcapUDPPacket
        var packet: DHCPPacket
    }

    func load(_ name: String) throws -> [Captured] {
        // Some captures also hold the TFTP that followed; only DHCP/PXE ports are DHCP.
        try Pcap.udpPackets(name)
            .filter { [67, 68, 4011].contains($0.destinationPort) }
            .map { Captured(udp: $0, packet: try DHCPPacket(parsing: $0.payload)) }
    }

    func requests(_ all: [Captured], to port: UInt16, type: DHCPMessageType) -> [Captured] {
        all.filter { $0.udp.destinationPort == port && $0.packet.op == 1 && $0.packet.messageType == type }
    }

    /// The reference proxy's own answer to the same xid, for side-by-side comparison.
    func referenceReply(_ all: [Captured], to request: DHCPPacket, type: DHCPMessageType) -> DHCPPacket? {
        all.first { $0.packet.op == 2 && $0.packet.xid == request.xid && $0.packet.messageType == type
            && $0.packet.serverIdentifier == Self.server }?.packet
    }

    func answer(_ request: DHCPPacket, port: ProxyPort) throws -> (DHCPPacket, ProxyReplyDestination, ProxyRequestSummary) {
        guard case .reply(let p, let destination, _, let summary) = policy.decide(request, port: port) else {
            Issue.record("no reply to \(request.messageType.map(String.init(describing:)) ?? "?") on :\(port)")
            throw CancellationError()
        }
        return (p, destination, summary)
    }

    func commonProxyFields(_ reply: DHCPPacket, _ request: DHCPPacket) {
        #expect(reply.op == 2)
        #expect(reply.xid == request.xid)
        #expect(reply.chaddr == request.chaddr)
        #expect(reply.yiaddr == .zero)
        #expect(reply.siaddr == Self.server)
        #expect(reply.serverIdentifier == Self.server)
        #expect(reply.vendorClassIdentifier == "PXEClient")
        #expect(reply.clientMachineIdentifier == request.clientMachineIdentifier)
    }

    @Test("every captured packet round-trips byte for byte", arguments: [
        "seabios-ipxe-rom.pcap", "ovmf-edk2-pxe.pcap", "ipxe-efi-second-stage.pcap", "undionly-second-stage.pcap",
        "ovmf-edk2-opt43-bypass.pcap", "ovmf-edk2-file-no43.pcap", "ovmf-http-boot.pcap",
    ])
    func roundTrip(file: String) throws {
        let packets = try load(file)
        #expect(packets.count >= 3)
        for c in packets {
            #expect(c.packet.serialize() == c.udp.payload)
        }
    }

    @Test("SeaBIOS with QEMU's iPXE ROM: already iPXE, so the HTTP script, on :67 and :4011")
    func seabiosIPXE() throws {
        let all = try load("seabios-ipxe-rom.pcap")
        let discover = try #require(requests(all, to: 67, type: .discover).first)
        #expect(discover.packet.vendorClassIdentifier == "PXEClient:Arch:00000:UNDI:002001")
        #expect(discover.packet.userClasses == ["iPXE"])
        let (offer, destination, summary) = try answer(discover.packet, port: .dhcp)
        commonProxyFields(offer, discover.packet)
        #expect(offer.messageType == .offer)
        #expect(offer.bootFileName == "http://10.77.0.2:8080/boot.ipxe")
        #expect(offer.pxeVendorOptions?.discoveryControl == 8)
        #expect(destination == .broadcast)
        #expect(summary.architecture == .biosX86)
        #expect(summary.isIPXE)
        #expect(summary.mac?.description == "52:54:00:b7:f6:89")
        // dnsmasq answered the same DISCOVER with the same core fields.
        let reference = try #require(referenceReply(all, to: discover.packet, type: .offer))
        #expect(reference.yiaddr == offer.yiaddr)
        #expect(reference.vendorClassIdentifier == offer.vendorClassIdentifier)
        #expect(reference.clientMachineIdentifier == offer.clientMachineIdentifier)

        // iPXE then asks the boot server on :4011.
        let request = try #require(requests(all, to: 4011, type: .request).first)
        let (ack, ackDestination, _) = try answer(request.packet, port: .pxe)
        commonProxyFields(ack, request.packet)
        #expect(ack.messageType == .ack)
        #expect(ack.ciaddr == request.packet.ciaddr)
        #expect(ack.bootFileName == "http://10.77.0.2:8080/boot.ipxe")
        #expect(ackDestination == .sender)
        if let item = request.packet.pxeVendorOptions?.bootItem {
            #expect(ack.pxeVendorOptions?.bootItem == item)
        }

        // The REQUEST it broadcast to the LAN's DHCP server is not ours to answer.
        for r in requests(all, to: 67, type: .request) {
            #expect(policy.decide(r.packet, port: .dhcp) == .ignore(.messageTypeNotAnsweredOnPort(.request, .dhcp), summary: policy.decide(r.packet, port: .dhcp).summary))
        }
    }

    /// The reference proxy (dnsmasq) offered ipxe.efi in this capture; garage-pxe's default
    /// UEFI iPXE is snponly.efi. Only the client's packets are replayed here.
    @Test("OVMF's own UEFI PXE: snponly.efi with no option 43 on :67, then the :4011 ACK")
    func ovmfEDK2() throws {
        let all = try load("ovmf-edk2-pxe.pcap")
        let discover = try #require(requests(all, to: 67, type: .discover).first)
        #expect(discover.packet.userClasses.isEmpty)
        #expect(discover.packet.clientArchitectures == [7])
        let (offer, _, summary) = try answer(discover.packet, port: .dhcp)
        commonProxyFields(offer, discover.packet)
        #expect(offer.bootFileName == "snponly.efi")
        #expect(offer.option(.vendorSpecific) == nil)
        #expect(summary.architecture == .efiBC)
        #expect(!summary.isIPXE)
        let reference = try #require(referenceReply(all, to: discover.packet, type: .offer))
        #expect(reference.option(.vendorSpecific) == nil)

        let request = try #require(requests(all, to: 4011, type: .request).first)
        #expect(request.udp.sourcePort == 4011)
        let (ack, destination, _) = try answer(request.packet, port: .pxe)
        commonProxyFields(ack, request.packet)
        #expect(ack.messageType == .ack)
        #expect(ack.bootFileName == "snponly.efi")
        #expect(ack.ciaddr == request.packet.ciaddr)
        #expect(destination == .sender)
        if let item = request.packet.pxeVendorOptions?.bootItem {
            #expect(ack.pxeVendorOptions?.bootItem == item)
        }
    }

    @Test("ipxe.efi after the chainload: recognised by option 77/175 and sent the HTTP script")
    func ipxeSecondStage() throws {
        let all = try load("ipxe-efi-second-stage.pcap")
        let discover = try #require(requests(all, to: 67, type: .discover).first)
        #expect(discover.packet.ipxeEncapsulatedOptions != nil)
        let (offer, _, _) = try answer(discover.packet, port: .dhcp)
        commonProxyFields(offer, discover.packet)
        #expect(offer.bootFileName == "http://10.77.0.2:8080/boot.ipxe")
        for request in requests(all, to: 4011, type: .request) {
            let (ack, _, _) = try answer(request.packet, port: .pxe)
            #expect(ack.bootFileName == "http://10.77.0.2:8080/boot.ipxe")
        }
    }

    @Test("undionly.kpxe after the chainload on BIOS: the HTTP script, not the loader again")
    func undionlySecondStage() throws {
        let all = try load("undionly-second-stage.pcap")
        for discover in requests(all, to: 67, type: .discover) {
            #expect(discover.packet.userClasses == ["iPXE"])
            let (offer, _, _) = try answer(discover.packet, port: .dhcp)
            #expect(offer.bootFileName == "http://10.77.0.2:8080/boot.ipxe")
        }
    }

    /// EDK2's HttpBootDxe keeps a proxy offer (yiaddr 0) only when option 60 says
    /// `HTTPClient` and it names a URI; a LAN offer with DNS and no URI (DhcpDns) is paired
    /// with a proxy offer whose URI has an IP address (HttpBootSelectDhcpOffer).
    @Test("OVMF's UEFI HTTP boot (its PXE off): HTTPClient, the signed shim's http:// URL, as garage-pxe sent it")
    func ovmfHTTPBoot() throws {
        let all = try load("ovmf-http-boot.pcap")
        let discover = try #require(requests(all, to: 67, type: .discover).first)
        #expect(discover.packet.vendorClassIdentifier == "HTTPClient:Arch:00016:UNDI:003000")
        #expect(discover.packet.clientArchitectures == [16])
        var settings = policy.settings
        settings.efiSignedChain = true
        guard case .reply(let offer, let destination, let bootfile, let summary) = ProxyPolicy(settings: settings).decide(discover.packet, port: .dhcp) else {
            Issue.record("no offer to the HTTP boot DISCOVER")
            return
        }
        #expect(summary.architecture == .efiX64HTTP)
        #expect(offer.messageType == .offer)
        #expect(offer.yiaddr == .zero)
        #expect(offer.vendorClassIdentifier == "HTTPClient")
        #expect(bootfile == "http://10.77.0.2:8080/debian-installer/amd64/bootnetx64.efi")
        #expect(offer.bootFileName == bootfile)
        #expect(offer.option(.vendorSpecific) == nil)
        #expect(offer.clientMachineIdentifier == discover.packet.clientMachineIdentifier)
        #expect(destination == .broadcast)
        // The capture holds garage-pxe's own offer, which the firmware took: the same bytes.
        let sent = try #require(referenceReply(all, to: discover.packet, type: .offer))
        #expect(sent.serialize() == offer.serialize())
        // The LAN's offer: an address and DNS, no URI, no option 60.
        let lan = try #require(all.first { $0.packet.op == 2 && $0.packet.messageType == .offer && $0.packet.serverIdentifier != Self.server })
        #expect(lan.packet.yiaddr != .zero)
        #expect(lan.packet.option(.domainNameServer) != nil)
        #expect(lan.packet.vendorClassIdentifier == nil)
        #expect(lan.packet.bootFileName == nil)
        // The firmware then takes its address from the LAN's server; the proxy stays silent.
        let request = try #require(requests(all, to: 67, type: .request).first)
        #expect(request.packet.serverIdentifier == lan.packet.serverIdentifier)
        let silent = ProxyPolicy(settings: settings).decide(request.packet, port: .dhcp)
        #expect(silent == .ignore(.messageTypeNotAnsweredOnPort(.request, .dhcp), summary: silent.summary))
    }
}
