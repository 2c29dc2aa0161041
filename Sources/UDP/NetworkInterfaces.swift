// Interface and address discovery with getifaddrs, so `interface: auto` and
// `address: auto` in the config resolve to something real.

#if canImport(Glibc)
import Glibc
#endif
import NetworkAddresses

public struct NetworkInterface: Sendable, Equatable {
    public var name: String
    public var index: Int32
    /// First IPv4 address, if any.
    public var address: IPv4Address?
    public var netmask: IPv4Address?
    public var isUp: Bool
    public var isLoopback: Bool
    public var mtu: Int?

    /// Every interface of this network namespace, IPv4 addresses merged per name.
    public static func all() -> [NetworkInterface] {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0, let first = head else { return [] }
        defer { freeifaddrs(head) }
        var byName: [String: NetworkInterface] = [:]
        var order: [String] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            let name = String(cString: entry.pointee.ifa_name)
            let flags = Int32(bitPattern: entry.pointee.ifa_flags)
            if byName[name] == nil {
                order.append(name)
                byName[name] = NetworkInterface(
                    name: name, index: Int32(if_nametoindex(name)), address: nil, netmask: nil,
                    isUp: flags & Int32(IFF_UP) != 0, isLoopback: flags & Int32(IFF_LOOPBACK) != 0,
                    mtu: interfaceMTU(name))
            }
            if let sa = entry.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET), byName[name]!.address == nil {
                byName[name]!.address = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { IPv4Address(hostOrder: UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
                if let mask = entry.pointee.ifa_netmask {
                    byName[name]!.netmask = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { IPv4Address(hostOrder: UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
                }
            }
        }
        return order.compactMap { byName[$0] }
    }

    public static func named(_ name: String) -> NetworkInterface? { all().first { $0.name == name } }

    public static func withIndex(_ index: Int32) -> NetworkInterface? { all().first { $0.index == index } }

    /// The interface to serve when the config says `auto`: the one carrying the default
    /// route, else the first interface that is up, not loopback and has an IPv4 address.
    public static func automatic() -> NetworkInterface? {
        let candidates = all().filter { $0.isUp && !$0.isLoopback && $0.address != nil }
        if let routed = defaultRouteInterfaceName(), let match = candidates.first(where: { $0.name == routed }) {
            return match
        }
        return candidates.first
    }

    /// Reads the kernel's IPv4 routing table for the interface of the default route.
    /// /proc/self/net rather than /proc/net: the systemd unit's ProcSubset=pid hides
    /// the latter.
    static func defaultRouteInterfaceName() -> String? {
        guard let file = fopen("/proc/self/net/route", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        var isHeader = true
        while fgets(&line, Int32(line.count), file) != nil {
            if isHeader { isHeader = false; continue }
            let text = String(decoding: line.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fields = text.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if fields.count > 2, fields[1] == "00000000" { return String(fields[0]) }
        }
        return nil
    }

    static func interfaceMTU(_ name: String) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var request = ifreq()
        let nameBytes = Array(name.utf8.prefix(Int(IFNAMSIZ) - 1))
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { buf in
            for (i, b) in nameBytes.enumerated() { buf[i] = b }
        }
        guard ioctl(fd, UInt(SIOCGIFMTU), &request) == 0 else { return nil }
        return Int(request.ifr_ifru.ifru_mtu)
    }
}
