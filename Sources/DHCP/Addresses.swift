// Value types for the addresses a DHCP message carries. Kept here (not in UDP) so the
// protocol module stays free of sockets.

/// An IPv4 address in network byte order, as four octets.
public struct IPv4Address: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var octets: (UInt8, UInt8, UInt8, UInt8)

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { octets = (a, b, c, d) }

    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 4, "IPv4Address needs exactly 4 bytes")
        var it = bytes.makeIterator()
        octets = (it.next()!, it.next()!, it.next()!, it.next()!)
    }

    /// Parses dotted-quad text; nil for anything else (no shorthand forms such as "10.1").
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var values: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let v = UInt8(part) else { return nil }
            values.append(v)
        }
        self.init(values[0], values[1], values[2], values[3])
    }

    /// Host-order 32-bit value (a.b.c.d → a<<24 | …).
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

    public static func == (l: IPv4Address, r: IPv4Address) -> Bool { l.hostOrder == r.hostOrder }
    public static func < (l: IPv4Address, r: IPv4Address) -> Bool { l.hostOrder < r.hostOrder }
    public func hash(into hasher: inout Hasher) { hasher.combine(hostOrder) }
}

/// A 48-bit Ethernet hardware address. Printed lower-case with colons, the form the
/// journal and the menus use.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-…` and bare `aabbccddeeff`, any case.
    public init?(_ text: String) {
        let hex = text.filter { $0 != ":" && $0 != "-" }
        // ASCII only: Character.isHexDigit also says yes to fullwidth digits such as "５",
        // which UInt8(_:radix:) then refuses.
        guard hex.count == 12, hex.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let byte = UInt8(hex[i..<j], radix: 16) else { return nil }
            out.append(byte)
            i = j
        }
        // Separators, when present, must sit between every pair.
        if text.count != 12 {
            guard text.count == 17 else { return nil }
            let seps = text.enumerated().filter { ($0.offset + 1) % 3 == 0 }.map(\.element)
            guard Set(seps).count == 1, seps.first == ":" || seps.first == "-" else { return nil }
        }
        self.bytes = out
    }

    public var description: String { hexText(bytes, separator: UInt8(ascii: ":")) }

    /// The first three octets: the vendor's OUI, used for per-vendor overrides.
    public var oui: [UInt8] { Array(bytes.prefix(3)) }

    public static func < (l: MACAddress, r: MACAddress) -> Bool { l.bytes.lexicographicallyPrecedes(r.bytes) }
}

let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

@inline(__always) func hex2(_ b: UInt8) -> String {
    String(decoding: [hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xf)]], as: UTF8.self)
}

/// Lower-case hex of `bytes` with `separator` between bytes, built as one UTF-8 buffer.
func hexText(_ bytes: some Collection<UInt8>, separator: UInt8? = nil) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 3)
    for (i, b) in bytes.enumerated() {
        if i > 0, let separator { out.append(separator) }
        out.append(hexDigits[Int(b >> 4)])
        out.append(hexDigits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Lower-case hex without separators, for logs and fixtures.
public func hexString(_ bytes: some Collection<UInt8>) -> String { hexText(bytes) }
