// Option codes and typed readers for the options a PXE exchange uses. Typed values are
// read from `DHCPPacket.options`, so overload and split options are already resolved.

import NetworkAddresses

public enum DHCPOptionCode: UInt8, Sendable {
    case pad = 0
    case subnetMask = 1
    case router = 3
    case domainNameServer = 6
    case hostName = 12
    case vendorSpecific = 43
    case requestedIPAddress = 50
    case leaseTime = 51
    case overload = 52
    case messageType = 53
    case serverIdentifier = 54
    case parameterRequestList = 55
    case message = 56
    case maximumMessageSize = 57
    case vendorClassIdentifier = 60
    case clientIdentifier = 61
    case tftpServerName = 66
    case bootfileName = 67
    case userClass = 77
    case clientSystemArchitecture = 93
    case clientNetworkInterface = 94
    case clientMachineIdentifier = 97
    case ipxeEncapsulated = 175
    case end = 255
}

public enum DHCPMessageType: UInt8, Sendable, CustomStringConvertible {
    case discover = 1, offer, request, decline, ack, nak, release, inform

    public var description: String {
        switch self {
        case .discover: "DISCOVER"
        case .offer: "OFFER"
        case .request: "REQUEST"
        case .decline: "DECLINE"
        case .ack: "ACK"
        case .nak: "NAK"
        case .release: "RELEASE"
        case .inform: "INFORM"
        }
    }
}

/// Option 94, Client Network Interface Identifier (RFC 4578 §2.2): UNDI version.
public struct ClientNetworkInterface: Equatable, Sendable {
    public var type: UInt8
    public var major: UInt8
    public var minor: UInt8
    public init(type: UInt8, major: UInt8, minor: UInt8) { self.type = type; self.major = major; self.minor = minor }
}

extension DHCPPacket {
    public var messageType: DHCPMessageType? {
        guard let o = option(.messageType), o.count == 1 else { return nil }
        return DHCPMessageType(rawValue: o[0])
    }

    /// The client's hardware address, when it is Ethernet (htype 1, hlen 6).
    public var clientMAC: MACAddress? {
        guard htype == 1, hlen == 6 else { return nil }
        return MACAddress(bytes: chaddr.prefix(6))
    }

    /// Option 60 as text (e.g. `PXEClient:Arch:00007:UNDI:003000`).
    public var vendorClassIdentifier: String? {
        option(.vendorClassIdentifier).map { String(decoding: $0, as: UTF8.self) }
    }

    public var serverIdentifier: IPv4Address? {
        guard let o = option(.serverIdentifier), o.count == 4 else { return nil }
        return IPv4Address(bytes: o)
    }

    /// Option 93 (RFC 4578 §2.1): a list of 16-bit architecture types. nil when absent or
    /// of odd length.
    public var clientArchitectures: [UInt16]? {
        guard let o = option(.clientSystemArchitecture), !o.isEmpty, o.count % 2 == 0 else { return nil }
        return stride(from: 0, to: o.count, by: 2).map { UInt16(o[$0]) << 8 | UInt16(o[$0 + 1]) }
    }

    public var clientNetworkInterface: ClientNetworkInterface? {
        guard let o = option(.clientNetworkInterface), o.count == 3 else { return nil }
        return ClientNetworkInterface(type: o[0], major: o[1], minor: o[2])
    }

    /// Option 97 (RFC 4578 §2.3) raw: type 0 followed by a 16-byte GUID, or empty (some
    /// ROMs send length 0). Echoed back unchanged in replies.
    public var clientMachineIdentifier: [UInt8]? { option(.clientMachineIdentifier) }

    /// The machine UUID from option 97, in the mixed-endian text form SMBIOS tools print
    /// (and iPXE's `${uuid}` shows), so the journal and the menus agree on it.
    public var clientUUID: String? {
        guard let o = clientMachineIdentifier, o.count == 17, o[0] == 0 else { return nil }
        return formatSMBIOSUUID(Array(o[1...]))
    }

    /// Option 77. Two encodings exist in the wild: RFC 3004's list of length-prefixed
    /// class names, and the plain string that iPXE and many ROMs send ("iPXE"). A payload
    /// that parses exactly as an RFC 3004 list is read as one; anything else is one name.
    public var userClasses: [String] {
        guard let o = option(.userClass), !o.isEmpty else { return [] }
        return parseUserClass(o)
    }

    /// Option 175, iPXE's encapsulated options (feature flags such as HTTP 0x13), when present.
    public var ipxeEncapsulatedOptions: [DHCPOption]? {
        guard let o = option(.ipxeEncapsulated) else { return nil }
        return parseEncapsulated(o)
    }

    /// Option 43 read as PXE 2.1 vendor options; only meaningful for PXE exchanges.
    public var pxeVendorOptions: PXEVendorOptions? {
        guard let o = option(.vendorSpecific) else { return nil }
        return PXEVendorOptions(parsing: o)
    }
}

func parseUserClass(_ o: [UInt8]) -> [String] {
    var names: [String] = []
    var i = 0
    while i < o.count {
        let length = Int(o[i])
        guard length > 0, i + 1 + length <= o.count else {
            return [String(decoding: o, as: UTF8.self)]
        }
        names.append(String(decoding: o[(i + 1)..<(i + 1 + length)], as: UTF8.self))
        i += 1 + length
    }
    return names
}

/// Reads a TLV list as used inside options 43 and 175 (pad 0 skipped, end 255 stops).
/// A truncated trailing option is dropped rather than failing the whole packet: these
/// sub-options are advisory.
func parseEncapsulated(_ o: [UInt8]) -> [DHCPOption] {
    var out: [DHCPOption] = []
    var i = 0
    while i < o.count {
        let code = o[i]
        if code == 0 { i += 1; continue }
        if code == 255 { break }
        guard i + 1 < o.count else { break }
        let length = Int(o[i + 1])
        guard i + 2 + length <= o.count else { break }
        out.append(DHCPOption(code, Array(o[(i + 2)..<(i + 2 + length)])))
        i += 2 + length
    }
    return out
}

func encodeEncapsulated(_ options: [DHCPOption]) -> [UInt8] {
    var out: [UInt8] = []
    for o in options {
        out.append(o.code)
        out.append(UInt8(min(o.data.count, 255)))
        out.append(contentsOf: o.data.prefix(255))
    }
    out.append(255)
    return out
}

/// SMBIOS stores the first three UUID fields little-endian; print them the way dmidecode does.
func formatSMBIOSUUID(_ g: [UInt8]) -> String {
    precondition(g.count == 16)
    // Bytes in printed order, with a hyphen before the 5th, 7th, 9th and 11th.
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
    return String(unsafeUninitializedCapacity: 36) { out in
        var at = 0
        for (n, i) in order.enumerated() {
            if n == 4 || n == 6 || n == 8 || n == 10 { out[at] = UInt8(ascii: "-"); at += 1 }
            out[at] = hexDigit(g[i] >> 4)
            out[at + 1] = hexDigit(g[i] & 0xf)
            at += 2
        }
        return at
    }
}
