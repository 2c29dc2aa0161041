// PXE requests as firmware sends them, built with the server's own DHCP codec. One packet
// is built per run as a template; each request patches xid, MAC and GUID into a copy, and
// a self-check at start proves the patched bytes equal a packet built from scratch.

import DHCP
import NetworkAddresses

enum LoadMode: String {
    /// Broadcast DHCPDISCOVER to :67; the proxy offer is broadcast back to :68.
    case discover
    /// Unicast DHCPREQUEST with ciaddr to :4011; the ACK comes back to the sender.
    case request
}

struct RequestFactory {
    let mode: LoadMode
    let arch: UInt16
    let clientAddress: IPv4Address
    /// PXE boot server type asked for in option 43 sub-option 71 (REQUEST only).
    let bootItem: UInt16?

    /// What a PXE 2.1 ROM asks for (Intel/iPXE UNDI and EDK2 send lists much like it).
    static let parameterRequestList: [UInt8] = [
        1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97,
        128, 129, 130, 131, 132, 133, 134, 135,
    ]

    /// Locally administered MACs 02:67:ss:ss:ss:ss, one per sequence number.
    static func mac(_ seq: UInt32) -> [UInt8] {
        [0x02, 0x67, UInt8(seq >> 24), UInt8((seq >> 16) & 0xff), UInt8((seq >> 8) & 0xff), UInt8(seq & 0xff)]
    }

    /// Option 97: type 0 then a 16-byte GUID; its last four bytes carry the sequence number.
    static func guid(_ seq: UInt32) -> [UInt8] {
        [0, 0x67, 0x70, 0x78, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x00, 0x00, 0x00, 0x00]
            + [UInt8(seq >> 24), UInt8((seq >> 16) & 0xff), UInt8((seq >> 8) & 0xff), UInt8(seq & 0xff)]
    }

    func packet(seq: UInt32, xid: UInt32) -> DHCPPacket {
        let archText = String(arch)
        let vendorClass = "PXEClient:Arch:" + String(repeating: "0", count: max(0, 5 - archText.count)) + archText + ":UNDI:002001"
        var options: [DHCPOption] = [
            DHCPOption(.messageType, [mode == .discover ? DHCPMessageType.discover.rawValue : DHCPMessageType.request.rawValue]),
            DHCPOption(.maximumMessageSize, [0x05, 0xc0]),
            DHCPOption(.parameterRequestList, Self.parameterRequestList),
            DHCPOption(.clientSystemArchitecture, [UInt8(arch >> 8), UInt8(arch & 0xff)]),
            DHCPOption(.clientNetworkInterface, [1, 2, 1]),
            DHCPOption(.clientMachineIdentifier, Self.guid(seq)),
            DHCPOption(.vendorClassIdentifier, Array(vendorClass.utf8)),
        ]
        if mode == .request, let bootItem {
            // What a PXE client sends to the boot server it picked from the proxy offer's menu.
            options.append(DHCPOption(.vendorSpecific, PXEVendorOptions(bootItem: .init(type: bootItem, layer: 0)).serialize()))
        }
        var p = DHCPPacket(
            op: .request, xid: xid, ciaddr: mode == .request ? clientAddress : .zero,
            chaddr: Self.mac(seq), options: options)
        p.padToMinimumLength()
        return p
    }
}

/// A serialized request with the offsets of the per-request fields, patched in place.
struct RequestTemplate {
    private(set) var bytes: [UInt8]
    private let guidSeqOffset: Int
    static let xidOffset = 4
    static let chaddrOffset = 28

    init(factory: RequestFactory) throws {
        let packet = factory.packet(seq: 0, xid: 0)
        bytes = packet.serialize()
        // Find option 97's payload by walking the options area.
        var i = DHCPPacket.headerLength + 4
        var found: Int?
        while i + 1 < bytes.count, bytes[i] != 255 {
            if bytes[i] == 0 { i += 1; continue }
            if bytes[i] == DHCPOptionCode.clientMachineIdentifier.rawValue { found = i + 2; break }
            i += 2 + Int(bytes[i + 1])
        }
        guard let found else { throw LoadgenError("request template has no option 97") }
        guidSeqOffset = found + 13
        // Self-check: patched bytes must equal what the codec builds for that request.
        for (seq, xid) in [(UInt32(1), UInt32(0xdead_beef)), (0x0123_4567, 0x89ab_cdef)] {
            patch(seq: seq, xid: xid)
            guard bytes == factory.packet(seq: seq, xid: xid).serialize() else {
                throw LoadgenError("patched request differs from the codec's for seq \(seq)")
            }
            guard let parsed = try? DHCPPacket(parsing: bytes), parsed.xid == xid,
                  parsed.clientMAC == MACAddress(bytes: RequestFactory.mac(seq)),
                  parsed.vendorClassIdentifier?.hasPrefix("PXEClient:Arch:") == true
            else { throw LoadgenError("patched request does not parse back for seq \(seq)") }
        }
    }

    mutating func patch(seq: UInt32, xid: UInt32) {
        bytes.withUnsafeMutableBufferPointer { b in
            b[Self.xidOffset] = UInt8(xid >> 24)
            b[Self.xidOffset + 1] = UInt8((xid >> 16) & 0xff)
            b[Self.xidOffset + 2] = UInt8((xid >> 8) & 0xff)
            b[Self.xidOffset + 3] = UInt8(xid & 0xff)
            for k in 0..<4 {
                let v = UInt8((seq >> (24 - 8 * UInt32(k))) & 0xff)
                b[Self.chaddrOffset + 2 + k] = v
                b[guidSeqOffset + k] = v
            }
        }
    }
}

struct LoadgenError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
