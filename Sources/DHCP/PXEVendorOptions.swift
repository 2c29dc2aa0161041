// Option 43 as the PXE 2.1 specification uses it (section 2.4, "PXE vendor options").
// Only the sub-options a proxyDHCP server sends or a client may echo are typed; the
// rest are kept as-is so nothing is lost.

import NetworkAddresses

public struct PXEVendorOptions: Equatable, Sendable {
    /// Sub-option 8 entry: a boot server type and its addresses.
    public struct BootServer: Equatable, Sendable {
        public var type: UInt16
        public var addresses: [IPv4Address]
        public init(type: UInt16, addresses: [IPv4Address]) { self.type = type; self.addresses = addresses }
    }

    /// Sub-option 9 entry: a boot menu line.
    public struct MenuItem: Equatable, Sendable {
        public var type: UInt16
        public var description: String
        public init(type: UInt16, description: String) { self.type = type; self.description = description }
    }

    /// Sub-option 10: seconds to wait (255 = wait for a key, 0 = boot at once) and prompt.
    public struct MenuPrompt: Equatable, Sendable {
        public var timeout: UInt8
        public var prompt: String
        public init(timeout: UInt8, prompt: String) { self.timeout = timeout; self.prompt = prompt }
    }

    /// Sub-option 71: the boot server type and layer the client asks for or is given.
    public struct BootItem: Equatable, Sendable {
        public var type: UInt16
        public var layer: UInt16
        public init(type: UInt16, layer: UInt16) { self.type = type; self.layer = layer }
    }

    /// Sub-option 6 bits: 1 disable broadcast discovery, 2 disable multicast discovery,
    /// 4 only use servers of sub-option 8, 8 skip discovery and download the boot file
    /// named in the packet.
    public var discoveryControl: UInt8?
    public var bootServers: [BootServer]?
    public var bootMenu: [MenuItem]?
    public var menuPrompt: MenuPrompt?
    public var bootItem: BootItem?
    /// Sub-options this type does not model, in their original order.
    public var other: [DHCPOption]

    public init(discoveryControl: UInt8? = nil, bootServers: [BootServer]? = nil, bootMenu: [MenuItem]? = nil,
                menuPrompt: MenuPrompt? = nil, bootItem: BootItem? = nil, other: [DHCPOption] = []) {
        self.discoveryControl = discoveryControl
        self.bootServers = bootServers
        self.bootMenu = bootMenu
        self.menuPrompt = menuPrompt
        self.bootItem = bootItem
        self.other = other
    }

    public init(parsing bytes: [UInt8]) {
        self.init()
        for sub in parseEncapsulated(bytes) {
            let d = sub.data
            switch sub.code {
            case 6 where d.count == 1:
                discoveryControl = d[0]
            case 8:
                var servers: [BootServer] = []
                var i = 0
                while i + 3 <= d.count {
                    let type = UInt16(d[i]) << 8 | UInt16(d[i + 1])
                    let count = Int(d[i + 2])
                    guard i + 3 + 4 * count <= d.count else { break }
                    let addrs = (0..<count).map { k in IPv4Address(bytes: d[(i + 3 + 4 * k)..<(i + 7 + 4 * k)]) }
                    servers.append(BootServer(type: type, addresses: addrs))
                    i += 3 + 4 * count
                }
                bootServers = servers
            case 9:
                var items: [MenuItem] = []
                var i = 0
                while i + 3 <= d.count {
                    let type = UInt16(d[i]) << 8 | UInt16(d[i + 1])
                    let length = Int(d[i + 2])
                    guard i + 3 + length <= d.count else { break }
                    items.append(MenuItem(type: type, description: String(decoding: d[(i + 3)..<(i + 3 + length)], as: UTF8.self)))
                    i += 3 + length
                }
                bootMenu = items
            case 10 where d.count >= 1:
                menuPrompt = MenuPrompt(timeout: d[0], prompt: String(decoding: d[1...], as: UTF8.self))
            case 71 where d.count == 4:
                bootItem = BootItem(type: UInt16(d[0]) << 8 | UInt16(d[1]), layer: UInt16(d[2]) << 8 | UInt16(d[3]))
            default:
                other.append(sub)
            }
        }
    }

    /// Encodes in sub-option number order, closed by an end option.
    public func serialize() -> [UInt8] {
        var subs: [DHCPOption] = []
        if let v = discoveryControl { subs.append(DHCPOption(6, [v])) }
        if let servers = bootServers {
            subs.append(DHCPOption(8, servers.flatMap { s in
                [UInt8(s.type >> 8), UInt8(s.type & 0xff), UInt8(s.addresses.count)] + s.addresses.flatMap(\.bytes)
            }))
        }
        if let menu = bootMenu {
            subs.append(DHCPOption(9, menu.flatMap { m in
                let text = Array(m.description.utf8.prefix(255))
                return [UInt8(m.type >> 8), UInt8(m.type & 0xff), UInt8(text.count)] + text
            }))
        }
        if let p = menuPrompt { subs.append(DHCPOption(10, [p.timeout] + Array(p.prompt.utf8.prefix(254)))) }
        if let b = bootItem {
            subs.append(DHCPOption(71, [UInt8(b.type >> 8), UInt8(b.type & 0xff), UInt8(b.layer >> 8), UInt8(b.layer & 0xff)]))
        }
        return encodeEncapsulated(subs + other)
    }
}
