// The BOOTP/DHCP message (RFC 951, RFC 2131) and its options (RFC 2132), parsed so that
// serializing a parsed packet gives back exactly the bytes that came in: captured
// packets from real firmware are the test fixtures, and byte-exact round trips are how
// we know the codec loses nothing.

import NetworkAddresses

/// Why a datagram was not accepted as a DHCP message. Each case is a counter in the daemon.
public enum DHCPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncatedHeader(length: Int)
    case oversize(length: Int)
    case missingMagicCookie
    case optionOverrun(area: DHCPOptionAreaName, code: UInt8, offset: Int)
    case missingEnd(area: DHCPOptionAreaName)
    case badOverloadValue(UInt8)

    public var description: String {
        switch self {
        case .truncatedHeader(let n): return "truncated header (\(n) bytes, need 240)"
        case .oversize(let n): return "oversize datagram (\(n) bytes)"
        case .missingMagicCookie: return "no DHCP magic cookie"
        case .optionOverrun(let area, let code, let offset):
            return "option \(code) at offset \(offset) of \(area) runs past the end"
        case .missingEnd(let area): return "no end option in \(area)"
        case .badOverloadValue(let v): return "option 52 (overload) has invalid value \(v)"
        }
    }

    /// A short stable name, used as the counter key and in logs.
    public var counterName: String {
        switch self {
        case .truncatedHeader: return "truncated"
        case .oversize: return "oversize"
        case .missingMagicCookie: return "no-cookie"
        case .optionOverrun: return "option-overrun"
        case .missingEnd: return "missing-end"
        case .badOverloadValue: return "bad-overload"
        }
    }
}

public enum DHCPOptionAreaName: String, Sendable, Equatable {
    case options, file, sname
}

/// One option as it appears on the wire: code and payload (length is the payload's count).
public struct DHCPOption: Equatable, Sendable {
    public var code: UInt8
    public var data: [UInt8]
    public init(_ code: UInt8, _ data: [UInt8]) { self.code = code; self.data = data }
    public init(_ code: DHCPOptionCode, _ data: [UInt8]) { self.init(code.rawValue, data) }
}

/// An options area as laid out on the wire, pads and trailing bytes included, so that it
/// serializes back to the same bytes.
public struct DHCPOptionArea: Equatable, Sendable {
    public enum Item: Equatable, Sendable {
        case pad
        case option(DHCPOption)
    }

    public var items: [Item]
    /// Whether an end option (255) closed the area.
    public var hasEnd: Bool
    /// Bytes after the end option (usually zero padding up to the BOOTP minimum of 300).
    public var trailing: [UInt8]

    public init(items: [Item] = [], hasEnd: Bool = true, trailing: [UInt8] = []) {
        self.items = items
        self.hasEnd = hasEnd
        self.trailing = trailing
    }

    /// Builds an area from options, splitting any longer than 255 bytes into consecutive
    /// instances of the same code (RFC 3396).
    public init(options: [DHCPOption]) {
        var items: [Item] = []
        for option in options {
            if option.data.isEmpty {
                items.append(.option(option))
                continue
            }
            var start = 0
            while start < option.data.count {
                let end = min(start + 255, option.data.count)
                items.append(.option(DHCPOption(option.code, Array(option.data[start..<end]))))
                start = end
            }
        }
        self.init(items: items, hasEnd: true, trailing: [])
    }

    public var options: [DHCPOption] {
        items.compactMap { if case .option(let o) = $0 { return o } else { return nil } }
    }

    /// Parses one area. `requireEnd` is true for the `file`/`sname` fields when overloaded:
    /// RFC 2131 says they then carry options closed by an end option, but in the main
    /// area many clients end with the datagram, so there the end is optional.
    static func parse(_ bytes: ArraySlice<UInt8>, name: DHCPOptionAreaName, requireEnd: Bool) throws(DHCPParseError) -> DHCPOptionArea {
        var items: [Item] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let code = bytes[i]
            if code == 0 { items.append(.pad); i += 1; continue }
            if code == 255 {
                return DHCPOptionArea(items: items, hasEnd: true, trailing: Array(bytes[(i + 1)...]))
            }
            guard i + 1 < bytes.endIndex else {
                throw .optionOverrun(area: name, code: code, offset: i - bytes.startIndex)
            }
            let length = Int(bytes[i + 1])
            let dataStart = i + 2
            guard dataStart + length <= bytes.endIndex else {
                throw .optionOverrun(area: name, code: code, offset: i - bytes.startIndex)
            }
            items.append(.option(DHCPOption(code, Array(bytes[dataStart..<(dataStart + length)]))))
            i = dataStart + length
        }
        if requireEnd { throw .missingEnd(area: name) }
        return DHCPOptionArea(items: items, hasEnd: false, trailing: [])
    }

    /// The bytes `serialize(into:)` writes, counted without writing them.
    var serializedLength: Int {
        var length = (hasEnd ? 1 : 0) + trailing.count
        for item in items {
            switch item {
            case .pad: length += 1
            case .option(let o): length += 2 + o.data.count
            }
        }
        return length
    }

    func serialize(into out: inout [UInt8]) {
        for item in items {
            switch item {
            case .pad: out.append(0)
            case .option(let o):
                out.append(o.code)
                out.append(UInt8(o.data.count))
                out.append(contentsOf: o.data)
            }
        }
        if hasEnd { out.append(255) }
        out.append(contentsOf: trailing)
    }
}

public enum BOOTPOperation: UInt8, Sendable {
    case request = 1
    case reply = 2
}

/// A DHCP message. Header fields are plain values; `sname` and `file` are kept as their
/// raw 64 and 128 bytes because with option overload (52) they hold options instead of
/// strings; `options` is the main options area after the magic cookie.
public struct DHCPPacket: Equatable, Sendable {
    public static let headerLength = 236
    public static let magicCookie: [UInt8] = [99, 130, 83, 99]
    /// Larger datagrams are refused outright: a PXE client never sends one, and bounding
    /// it keeps a hostile sender from making us parse megabytes.
    public static let maximumLength = 8192
    /// BOOTP relays and old ROMs expect at least this many bytes (RFC 1542 §2.1).
    public static let minimumReplyLength = 300

    public var op: UInt8
    public var htype: UInt8
    public var hlen: UInt8
    public var hops: UInt8
    public var xid: UInt32
    public var secs: UInt16
    public var flags: UInt16
    public var ciaddr: IPv4Address
    public var yiaddr: IPv4Address
    public var siaddr: IPv4Address
    public var giaddr: IPv4Address
    /// 16 bytes; the hardware address is the first `hlen` of them.
    public var chaddr: [UInt8]
    /// 64 bytes.
    public var sname: [UInt8] { didSet { options = Self.mergedOptions(optionArea, file: file, sname: sname) } }
    /// 128 bytes.
    public var file: [UInt8] { didSet { options = Self.mergedOptions(optionArea, file: file, sname: sname) } }
    public var optionArea: DHCPOptionArea { didSet { options = Self.mergedOptions(optionArea, file: file, sname: sname) } }

    /// Every option of the message, overloaded fields included, with repeated instances of
    /// one code concatenated into one (RFC 3396), in first-appearance order. Kept up to
    /// date when the areas change, so the many typed reads of one decision cost a search
    /// of a short array, not a re-parse.
    public private(set) var options: [DHCPOption]

    public init(
        op: BOOTPOperation, htype: UInt8 = 1, hlen: UInt8 = 6, hops: UInt8 = 0, xid: UInt32,
        secs: UInt16 = 0, flags: UInt16 = 0,
        ciaddr: IPv4Address = .zero, yiaddr: IPv4Address = .zero, siaddr: IPv4Address = .zero, giaddr: IPv4Address = .zero,
        chaddr: [UInt8], sname: String = "", file: String = "", options: [DHCPOption]
    ) {
        self.op = op.rawValue
        self.htype = htype
        self.hlen = hlen
        self.hops = hops
        self.xid = xid
        self.secs = secs
        self.flags = flags
        self.ciaddr = ciaddr
        self.yiaddr = yiaddr
        self.siaddr = siaddr
        self.giaddr = giaddr
        self.chaddr = Self.fixed(chaddr, 16)
        self.sname = Self.fixed(Array(sname.utf8), 64)
        self.file = Self.fixed(Array(file.utf8), 128)
        self.optionArea = DHCPOptionArea(options: options)
        self.options = Self.mergedOptions(optionArea, file: self.file, sname: self.sname)
    }

    private static func fixed(_ bytes: [UInt8], _ size: Int) -> [UInt8] {
        Array((bytes + [UInt8](repeating: 0, count: size)).prefix(size))
    }

    // MARK: Wire format

    public init(parsing bytes: some Collection<UInt8>) throws(DHCPParseError) {
        let b = Array(bytes)
        guard b.count <= Self.maximumLength else { throw .oversize(length: b.count) }
        guard b.count >= Self.headerLength + 4 else { throw .truncatedHeader(length: b.count) }
        func u16(_ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
        func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) << 16 | UInt32(u16(i + 2)) }
        func ip(_ i: Int) -> IPv4Address { IPv4Address(b[i], b[i + 1], b[i + 2], b[i + 3]) }
        op = b[0]; htype = b[1]; hlen = b[2]; hops = b[3]
        xid = u32(4); secs = u16(8); flags = u16(10)
        ciaddr = ip(12); yiaddr = ip(16); siaddr = ip(20); giaddr = ip(24)
        chaddr = Array(b[28..<44])
        sname = Array(b[44..<108])
        file = Array(b[108..<236])
        guard Array(b[236..<240]) == Self.magicCookie else { throw .missingMagicCookie }
        let area = try DHCPOptionArea.parse(b[240...], name: .options, requireEnd: false)
        optionArea = area
        // Validate overloaded fields now, so that a packet that parses is fully readable.
        options = Self.merge(try Self.overloadedAreas(area, file: file, sname: sname))
    }

    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.minimumReplyLength)
        out += [op, htype, hlen, hops]
        out += [UInt8(xid >> 24), UInt8((xid >> 16) & 0xff), UInt8((xid >> 8) & 0xff), UInt8(xid & 0xff)]
        out += [UInt8(secs >> 8), UInt8(secs & 0xff), UInt8(flags >> 8), UInt8(flags & 0xff)]
        out += ciaddr.bytes + yiaddr.bytes + siaddr.bytes + giaddr.bytes
        out += chaddr + sname + file
        out += Self.magicCookie
        optionArea.serialize(into: &out)
        return out
    }

    /// Pads the options area with zeros after the end option up to the BOOTP minimum size.
    public mutating func padToMinimumLength() {
        // What serialize() writes: 28 bytes of fixed fields, chaddr, sname, file, cookie, options.
        let length = 28 + chaddr.count + sname.count + file.count + Self.magicCookie.count + optionArea.serializedLength
        if length < Self.minimumReplyLength {
            optionArea.trailing += [UInt8](repeating: 0, count: Self.minimumReplyLength - length)
        }
    }

    // MARK: Logical options (RFC 2131 §4.1 overload, RFC 3396 concatenation)

    /// The option areas in the order RFC 3396 reads them: main area, then `file`, then
    /// `sname`, as selected by option 52 of the main area. An option 52 inside an
    /// overloaded field is ignored, which also makes overload loops impossible.
    static func overloadedAreas(_ optionArea: DHCPOptionArea, file: [UInt8], sname: [UInt8]) throws(DHCPParseError) -> [DHCPOptionArea] {
        var areas = [optionArea]
        guard let overload = optionArea.options.first(where: { $0.code == DHCPOptionCode.overload.rawValue }) else {
            return areas
        }
        guard overload.data.count == 1, (1...3).contains(overload.data[0]) else {
            throw .badOverloadValue(overload.data.first ?? 0)
        }
        let value = overload.data[0]
        if value & 1 != 0 { areas.append(try DHCPOptionArea.parse(file[...], name: .file, requireEnd: true)) }
        if value & 2 != 0 { areas.append(try DHCPOptionArea.parse(sname[...], name: .sname, requireEnd: true)) }
        return areas
    }

    /// A built or edited packet may carry overloaded fields that do not parse; its
    /// options are then those of the main area.
    static func mergedOptions(_ optionArea: DHCPOptionArea, file: [UInt8], sname: [UInt8]) -> [DHCPOption] {
        merge((try? overloadedAreas(optionArea, file: file, sname: sname)) ?? [optionArea])
    }

    static func merge(_ areas: [DHCPOptionArea]) -> [DHCPOption] {
        // Nearly every packet: one area, each code once. Its options are the logical ones.
        if areas.count == 1 {
            let options = areas[0].options
            var seen = (UInt128(0), UInt128(0))
            var repeated = false
            for option in options {
                let bit = UInt128(1) << (option.code & 127)
                if option.code < 128 {
                    repeated = repeated || seen.0 & bit != 0
                    seen.0 |= bit
                } else {
                    repeated = repeated || seen.1 & bit != 0
                    seen.1 |= bit
                }
            }
            if !repeated { return options }
        }
        var order: [UInt8] = []
        var data: [UInt8: [UInt8]] = [:]
        for (index, area) in areas.enumerated() {
            for option in area.options {
                if index > 0 && option.code == DHCPOptionCode.overload.rawValue { continue }
                if data[option.code] == nil { order.append(option.code); data[option.code] = [] }
                data[option.code]! += option.data
            }
        }
        return order.map { DHCPOption($0, data[$0]!) }
    }

    public func option(_ code: DHCPOptionCode) -> [UInt8]? { option(code.rawValue) }

    public func option(_ code: UInt8) -> [UInt8]? {
        options.first(where: { $0.code == code })?.data
    }

    /// The boot file name: option 67 if present, else the `file` field when it is not
    /// overloaded.
    public var bootFileName: String? {
        if let o = option(.bootfileName) { return Self.cString(o) }
        if fileIsOverloaded { return nil }
        let s = Self.cString(file)
        return s.isEmpty ? nil : s
    }

    public var serverHostName: String? {
        if let o = option(.tftpServerName) { return Self.cString(o) }
        if snameIsOverloaded { return nil }
        let s = Self.cString(sname)
        return s.isEmpty ? nil : s
    }

    var overloadValue: UInt8 {
        optionArea.options.first(where: { $0.code == DHCPOptionCode.overload.rawValue })?.data.first ?? 0
    }

    public var fileIsOverloaded: Bool { overloadValue & 1 != 0 }
    public var snameIsOverloaded: Bool { overloadValue & 2 != 0 }

    static func cString(_ bytes: [UInt8]) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
