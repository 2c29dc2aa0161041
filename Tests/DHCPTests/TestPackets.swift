import DHCP
import Foundation
import NetworkAddresses

/// Builds requests the way PXE firmware lays them out, for tests that need a variant of a
/// captured packet (the captures themselves live in Tests/Fixtures/dhcp).
enum TestPackets {
    static let mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
    static let guid: [UInt8] = [0] + (1...16).map { UInt8($0) }

    static func pxeRequest(
        type: DHCPMessageType = .discover, arch: UInt16 = 0, vendorClass: String? = nil,
        userClass: [UInt8]? = nil, ipxe175: Bool = false, guid: [UInt8]? = TestPackets.guid,
        ciaddr: IPv4Address = .zero, giaddr: IPv4Address = .zero, extra: [DHCPOption] = []
    ) -> DHCPPacket {
        var options: [DHCPOption] = [DHCPOption(.messageType, [type.rawValue])]
        options.append(DHCPOption(.maximumMessageSize, [0x05, 0xc0]))
        options.append(DHCPOption(.clientSystemArchitecture, [UInt8(arch >> 8), UInt8(arch & 0xff)]))
        options.append(DHCPOption(.clientNetworkInterface, [1, 3, 0]))
        if let guid { options.append(DHCPOption(.clientMachineIdentifier, guid)) }
        let vc = vendorClass ?? String(format: "PXEClient:Arch:%05d:UNDI:003000", arch)
        options.append(DHCPOption(.vendorClassIdentifier, Array(vc.utf8)))
        if let userClass { options.append(DHCPOption(.userClass, userClass)) }
        if ipxe175 { options.append(DHCPOption(.ipxeEncapsulated, [0xb1, 0x05, 0x01, 0x80, 0x86, 0x10, 0x0e, 0x13, 0x01, 0x01])) }
        options += extra
        return DHCPPacket(op: .request, xid: 0x1234_5678, flags: 0x8000, ciaddr: ciaddr, giaddr: giaddr,
                          chaddr: mac, options: options)
    }
}

/// Reads classic libpcap files (what tcpdump -w writes) and yields the UDP payloads of
/// Ethernet/IPv4 frames with their ports. Test-only: the daemon never reads pcaps.
struct PcapUDPPacket {
    var sourcePort: UInt16
    var destinationPort: UInt16
    var sourceAddress: IPv4Address
    var destinationAddress: IPv4Address
    var payload: [UInt8]
}

enum Pcap {
    static var fixturesDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }

    static func udpPackets(_ name: String) throws -> [PcapUDPPacket] {
        let data = try [UInt8](Data(contentsOf: fixturesDirectory.appendingPathComponent("dhcp/\(name)")))
        return try parse(data)
    }

    struct FormatError: Error, CustomStringConvertible { var description: String }

    static func parse(_ d: [UInt8]) throws -> [PcapUDPPacket] {
        guard d.count >= 24 else { throw FormatError(description: "short pcap") }
        let magic = u32le(d, 0)
        let littleEndian: Bool
        switch magic {
        case 0xa1b2_c3d4, 0xa1b2_3c4d: littleEndian = true
        case 0xd4c3_b2a1, 0x4d3c_b2a1: littleEndian = false
        default: throw FormatError(description: "not a classic pcap (magic \(String(magic, radix: 16)))")
        }
        func r32(_ i: Int) -> UInt32 { littleEndian ? u32le(d, i) : u32be(d, i) }
        let linkType = r32(20)
        var out: [PcapUDPPacket] = []
        var i = 24
        while i + 16 <= d.count {
            let captured = Int(r32(i + 8))
            let frameStart = i + 16
            guard frameStart + captured <= d.count else { break }
            let frame = Array(d[frameStart..<(frameStart + captured)])
            i = frameStart + captured
            var ipStart: Int
            switch linkType {
            case 1: // Ethernet
                guard frame.count > 14, frame[12] == 0x08, frame[13] == 0x00 else { continue }
                ipStart = 14
            case 113: // Linux cooked (tcpdump -i any)
                guard frame.count > 16, frame[14] == 0x08, frame[15] == 0x00 else { continue }
                ipStart = 16
            default:
                throw FormatError(description: "unsupported link type \(linkType)")
            }
            guard frame.count >= ipStart + 28, frame[ipStart] >> 4 == 4, frame[ipStart + 9] == 17 else { continue }
            let ihl = Int(frame[ipStart] & 0x0f) * 4
            let udp = ipStart + ihl
            guard frame.count >= udp + 8 else { continue }
            let length = Int(u16be(frame, udp + 4))
            let end = min(frame.count, udp + length)
            out.append(PcapUDPPacket(
                sourcePort: u16be(frame, udp), destinationPort: u16be(frame, udp + 2),
                sourceAddress: IPv4Address(bytes: frame[(ipStart + 12)..<(ipStart + 16)]),
                destinationAddress: IPv4Address(bytes: frame[(ipStart + 16)..<(ipStart + 20)]),
                payload: Array(frame[(udp + 8)..<end])))
        }
        return out
    }

    static func u16be(_ d: [UInt8], _ i: Int) -> UInt16 { UInt16(d[i]) << 8 | UInt16(d[i + 1]) }
    static func u32be(_ d: [UInt8], _ i: Int) -> UInt32 { UInt32(u16be(d, i)) << 16 | UInt32(u16be(d, i + 2)) }
    static func u32le(_ d: [UInt8], _ i: Int) -> UInt32 {
        UInt32(d[i]) | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2]) << 16 | UInt32(d[i + 3]) << 24
    }
}
