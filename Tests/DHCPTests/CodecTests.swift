import DHCP
import NetworkAddresses
import Testing

@Suite("DHCP codec")
struct CodecTests {
    @Test("a built packet serializes and parses back to the same value and bytes")
    func roundTripBuilt() throws {
        let packet = TestPackets.pxeRequest(arch: 7, userClass: Array("iPXE".utf8), ipxe175: true)
        let bytes = packet.serialize()
        let parsed = try DHCPPacket(parsing: bytes)
        #expect(parsed == packet)
        #expect(parsed.serialize() == bytes)
    }

    @Test("header fields land at their RFC 2131 offsets")
    func headerOffsets() {
        let bytes = TestPackets.pxeRequest(giaddr: IPv4Address(10, 1, 2, 3)).serialize()
        #expect(bytes[0] == 1)                       // op BOOTREQUEST
        #expect(Array(bytes[4..<8]) == [0x12, 0x34, 0x56, 0x78]) // xid
        #expect(Array(bytes[10..<12]) == [0x80, 0x00])  // broadcast flag
        #expect(Array(bytes[24..<28]) == [10, 1, 2, 3]) // giaddr
        #expect(Array(bytes[28..<34]) == TestPackets.mac)
        #expect(Array(bytes[236..<240]) == [99, 130, 83, 99])
        #expect(bytes[240] == 53)
    }

    @Test("padding brings a short packet to exactly the BOOTP minimum and leaves a long one alone")
    func padToMinimum() throws {
        var short = TestPackets.pxeRequest(guid: nil)
        #expect(short.serialize().count < DHCPPacket.minimumReplyLength)
        short.padToMinimumLength()
        #expect(short.serialize().count == DHCPPacket.minimumReplyLength)
        var long = TestPackets.pxeRequest(arch: 7, userClass: Array(repeating: 0x61, count: 120), ipxe175: true)
        let before = long.serialize()
        #expect(before.count > DHCPPacket.minimumReplyLength)
        long.padToMinimumLength()
        #expect(long.serialize() == before)
    }

    @Test("UUIDs of every byte value print as dmidecode does; MACs lower-case with each separator")
    func hexForms() throws {
        let guid = (0..<16).map { UInt8($0 * 17) }
        let p = try DHCPPacket(parsing: TestPackets.pxeRequest(guid: [0] + guid).serialize())
        #expect(p.clientUUID == "33221100-5544-7766-8899-aabbccddeeff")
        let mac = try #require(MACAddress(bytes: [0x00, 0x0A, 0xF0, 0xFF, 0x10, 0x9B]))
        #expect(mac.description == "00:0a:f0:ff:10:9b")
        #expect(mac.hyphenated == "00-0a-f0-ff-10-9b")
        #expect(mac.hex == "000af0ff109b")
        #expect(hexString([UInt8]()) == "")
        #expect(hexString([0xAB][...], separator: ":") == "ab")
    }

    @Test("typed PXE options are read")
    func typedOptions() throws {
        let p = try DHCPPacket(parsing: TestPackets.pxeRequest(arch: 9, userClass: Array("iPXE".utf8), ipxe175: true).serialize())
        #expect(p.messageType == .discover)
        #expect(p.clientMAC?.description == "52:54:00:12:34:56")
        #expect(p.clientArchitectures == [9])
        #expect(p.clientNetworkInterface == ClientNetworkInterface(type: 1, major: 3, minor: 0))
        #expect(p.vendorClassIdentifier == "PXEClient:Arch:00009:UNDI:003000")
        #expect(p.userClasses == ["iPXE"])
        #expect(p.ipxeEncapsulatedOptions?.first?.code == 0xb1)
        #expect(p.clientUUID == "04030201-0605-0807-090a-0b0c0d0e0f10")
    }

    @Test("option 77: RFC 3004 list and iPXE's plain string", arguments: [
        ([4, 0x69, 0x50, 0x58, 0x45], ["iPXE"]),
        ([4, 0x69, 0x50, 0x58, 0x45, 3, 0x61, 0x62, 0x63], ["iPXE", "abc"]),
        (Array("iPXE".utf8), ["iPXE"]),
        (Array("garage-pxe".utf8), ["garage-pxe"]),
        ([9, 0x61], ["\u{9}a"]), // a length prefix that overruns: read as one plain name
    ] as [([UInt8], [String])])
    func userClassForms(bytes: [UInt8], expected: [String]) throws {
        let p = TestPackets.pxeRequest(userClass: bytes)
        #expect(p.userClasses == expected)
    }

    @Test("option 97 of length 0 is kept; of length 17 gives a UUID")
    func machineIdentifierLengths() throws {
        let empty = try DHCPPacket(parsing: TestPackets.pxeRequest(guid: []).serialize())
        #expect(empty.clientMachineIdentifier == [])
        #expect(empty.clientUUID == nil)
        let absent = try DHCPPacket(parsing: TestPackets.pxeRequest(guid: nil).serialize())
        #expect(absent.clientMachineIdentifier == nil)
    }

    @Test("option overload (52) reads options from file and sname, in RFC 3396 order")
    func overload() throws {
        var p = TestPackets.pxeRequest(extra: [DHCPOption(.overload, [3])])
        // file carries option 67 and part of a split option 60; sname carries option 66.
        p.file = fixed([67, 4] + Array("a.fi".utf8) + [60, 3] + Array("XYZ".utf8) + [255], 128)
        p.sname = fixed([66, 3] + Array("srv".utf8) + [255], 64)
        let parsed = try DHCPPacket(parsing: p.serialize())
        #expect(parsed.bootFileName == "a.fi")
        #expect(parsed.serverHostName == "srv")
        #expect(parsed.vendorClassIdentifier == "PXEClient:Arch:00000:UNDI:003000XYZ")
        #expect(parsed.serialize() == p.serialize())
    }

    @Test("option 52 inside an overloaded field is ignored: no overload loops")
    func overloadLoop() throws {
        var p = TestPackets.pxeRequest(extra: [DHCPOption(.overload, [1])])
        p.file = fixed([52, 1, 3, 67, 2] + Array("xy".utf8) + [255], 128)
        let parsed = try DHCPPacket(parsing: p.serialize())
        #expect(parsed.bootFileName == "xy")
        #expect(parsed.options.filter { $0.code == 52 }.count == 1)
    }

    @Test("long options are split in 255-byte pieces and concatenated back (RFC 3396)")
    func splitOptions() throws {
        let url = String(repeating: "u", count: 600)
        let p = DHCPPacket(op: .reply, xid: 1, chaddr: TestPackets.mac, options: [DHCPOption(.bootfileName, Array(url.utf8))])
        #expect(p.optionArea.options.count == 3)
        let parsed = try DHCPPacket(parsing: p.serialize())
        #expect(parsed.bootFileName == url)
    }

    @Test("pads, a missing end option and trailing bytes survive a round trip")
    func padsAndTrailing() throws {
        var bytes = TestPackets.pxeRequest().serialize()
        bytes.removeLast() // the end option
        bytes += [0, 0] // pads after the last option, no end
        let parsed = try DHCPPacket(parsing: bytes)
        #expect(parsed.optionArea.hasEnd == false)
        #expect(parsed.serialize() == bytes)
        var withTrailing = TestPackets.pxeRequest().serialize()
        withTrailing += [0, 0, 0, 7]
        #expect(try DHCPPacket(parsing: withTrailing).serialize() == withTrailing)
    }

    @Test("PXE option 43 sub-options encode and decode")
    func pxeVendorOptions() {
        let o = PXEVendorOptions(
            discoveryControl: 8,
            bootServers: [.init(type: 0x8000, addresses: [IPv4Address(10, 0, 0, 2)])],
            bootMenu: [.init(type: 0x8000, description: "garage-pxe")],
            menuPrompt: .init(timeout: 0, prompt: "PXE"),
            bootItem: .init(type: 0x8000, layer: 0))
        let bytes = o.serialize()
        #expect(bytes.prefix(3) == [6, 1, 8])
        #expect(bytes.last == 255)
        #expect(PXEVendorOptions(parsing: bytes) == o)
    }

    @Test("MAC and IPv4 text forms")
    func addressText() {
        #expect(MACAddress("52-54-00-AA-bb-cc")?.description == "52:54:00:aa:bb:cc")
        #expect(MACAddress("525400aabbcc")?.description == "52:54:00:aa:bb:cc")
        #expect(MACAddress("52:54:00:aa:bb") == nil)
        #expect(MACAddress("52:54-00:aa:bb:cc") == nil)
        // Fullwidth digits pass Character.isHexDigit; they must be refused, not trap.
        #expect(MACAddress("５２:54:00:aa:bb:cc") == nil)
        #expect(MACAddress("５２５４００ａａｂｂｃｃ") == nil)
        #expect(IPv4Address("10.0.0.256") == nil)
        #expect(IPv4Address("10.0.0") == nil)
        #expect(IPv4Address("10.0.0.1")?.description == "10.0.0.1")
    }

    private func fixed(_ b: [UInt8], _ n: Int) -> [UInt8] { b + [UInt8](repeating: 0, count: n - b.count) }
}
