// The one MAC address type, with the one parser. It arrives in DHCP packets (chaddr,
// option 97), from the kernel's neighbour table (TFTP and HTTP clients), from menu.yaml
// and from query strings; anything that is not exactly six octets never reaches a
// template, a journal field or a log line.

/// A 48-bit Ethernet hardware address. Printed lower-case with colons, the form the
/// journal and the menus use.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        self.bytes = Array(bytes)
    }

    /// Accepts `52:54:00:12:34:56`, `52-54-00-12-34-56` and bare `525400123456`, any case.
    /// Separators, when present, sit between every pair and are all the same.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        let digits: [UInt8]
        switch utf8.count {
        case 12:
            digits = utf8
        case 17:
            let separator = utf8[2]
            guard separator == UInt8(ascii: ":") || separator == UInt8(ascii: "-") else { return nil }
            var kept: [UInt8] = []
            for (i, c) in utf8.enumerated() {
                if i % 3 == 2 { guard c == separator else { return nil } } else { kept.append(c) }
            }
            digits = kept
        default:
            return nil
        }
        // ASCII only, byte by byte: Character.isHexDigit also says yes to fullwidth digits.
        var out: [UInt8] = []
        out.reserveCapacity(6)
        for i in stride(from: 0, to: 12, by: 2) {
            guard let high = hexValue(digits[i]), let low = hexValue(digits[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        bytes = out
    }

    /// `52:54:00:12:34:56`
    public var description: String { hexString(bytes, separator: ":") }
    /// `52-54-00-12-34-56`, the form of Debian's BOOTIF and of iPXE's `hexhyp`.
    public var hyphenated: String { hexString(bytes, separator: "-") }
    /// `525400123456`: twelve lower-case hex digits (default hostnames, MAC prefixes).
    public var hex: String { hexString(bytes) }

    /// The first three octets: the vendor's OUI, used for per-vendor overrides.
    public var oui: [UInt8] { Array(bytes.prefix(3)) }

    public static func < (l: MACAddress, r: MACAddress) -> Bool { l.bytes.lexicographicallyPrecedes(r.bytes) }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// Lower-case hex of `bytes`, with `separator` between bytes when given. Written straight
/// into the string's storage: MACs and UUIDs are printed for every DHCP reply's log line,
/// and a byte array plus a decode per call was a measurable share of a reply's cost.
/// Inlinable so callers in other modules get it specialized for their collection type.
@inlinable
public func hexString(_ bytes: some Collection<UInt8>, separator: Character? = nil) -> String {
    let separatorByte = separator.flatMap(\.asciiValue)
    let count = bytes.count
    guard count > 0 else { return "" }
    let length = count * 2 + (separatorByte == nil ? 0 : count - 1)
    return String(unsafeUninitializedCapacity: length) { out in
        var at = 0
        for b in bytes {
            if at > 0, let separatorByte { out[at] = separatorByte; at += 1 }
            out[at] = hexDigit(b >> 4)
            out[at + 1] = hexDigit(b & 0xf)
            at += 2
        }
        return at
    }
}

/// The ASCII lower-case hex digit of a nibble (0...15).
@inlinable
public func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ nibble &- 10
}

extension MACAddress {
    /// The leading octets of a MAC, as admins write a vendor prefix: "00:e0:4c" or
    /// "00-e0-4c", two hex digits an octet, one kind of separator; nil unless the count
    /// of octets is in `octets`.
    public static func prefix(_ text: some StringProtocol, octets: ClosedRange<Int> = 1...5) -> [UInt8]? {
        let separator: Character = text.contains("-") ? "-" : ":"
        let parts = text.split(separator: separator, omittingEmptySubsequences: false)
        guard octets.contains(parts.count) else { return nil }
        var out: [UInt8] = []
        for part in parts {
            let utf8 = Array(part.utf8)
            guard utf8.count == 2, let high = hexValue(utf8[0]), let low = hexValue(utf8[1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }

    /// Whether this address starts with `prefix`.
    public func hasPrefix(_ prefix: [UInt8]) -> Bool { bytes.starts(with: prefix) }
}
