// The one IPv4 address type. Every module that holds an address (sockets, the DHCP codec,
// the TFTP server, the menus' context, the journal's fields) holds this value, and text
// becomes an address through one parser.

/// An IPv4 address, as four octets in network order.
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var octets: (UInt8, UInt8, UInt8, UInt8)

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { octets = (a, b, c, d) }

    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 4, "IPv4Address needs exactly 4 bytes")
        var it = bytes.makeIterator()
        octets = (it.next()!, it.next()!, it.next()!, it.next()!)
    }

    /// Parses dotted-quad text; nil for anything else (no shorthand forms such as "10.1",
    /// no leading "+", no more than three digits a part).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var values: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt8(part) else { return nil }
            values.append(v)
        }
        self.init(values[0], values[1], values[2], values[3])
    }

    /// From the host-order 32-bit value (a.b.c.d ↔ a<<24 | …), the form sockets and
    /// /proc use once byte-swapped.
    public init(hostOrder value: UInt32) {
        self.init(UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff))
    }

    public var hostOrder: UInt32 {
        UInt32(octets.0) << 24 | UInt32(octets.1) << 16 | UInt32(octets.2) << 8 | UInt32(octets.3)
    }

    public var bytes: [UInt8] { [octets.0, octets.1, octets.2, octets.3] }
    public var isZero: Bool { hostOrder == 0 }
    public var description: String { "\(octets.0).\(octets.1).\(octets.2).\(octets.3)" }

    public static let zero = IPv4Address(0, 0, 0, 0)
    public static let broadcast = IPv4Address(255, 255, 255, 255)
    public static let loopback = IPv4Address(127, 0, 0, 1)

    public static func == (l: IPv4Address, r: IPv4Address) -> Bool { l.hostOrder == r.hostOrder }
    public static func < (l: IPv4Address, r: IPv4Address) -> Bool { l.hostOrder < r.hostOrder }
    public func hash(into hasher: inout Hasher) { hasher.combine(hostOrder) }
}
