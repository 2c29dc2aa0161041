// A TFTP request carries no MAC address; the kernel's neighbour table knows it, because
// the client resolved our address with ARP just before asking (and we learnt its MAC
// from that request). The TFTP server uses it to apply per-machine options, the HTTP side
// to check that a request about a PC comes from that PC. It lives with the sockets and the
// interface list: it is the kernel's view of the LAN, not a protocol.

import NetworkAddresses
#if canImport(Glibc)
import Glibc
#endif

public enum NeighbourTable {
    /// The MAC the kernel has for `address` (host order), or nil (loopback, not yet known).
    /// /proc/self/net rather than /proc/net: the systemd unit's ProcSubset=pid removes
    /// /proc/net, and every client would lose its MAC.
    public static func hardwareAddress(of address: IPv4Address) -> MACAddress? {
        guard let file = fopen("/proc/self/net/arp", "r") else { return nil }
        defer { fclose(file) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while text.count < 1 << 20 {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            text.append(contentsOf: chunk[0..<n])
        }
        return lookup(address, in: String(decoding: text, as: UTF8.self))
    }

    /// Parses /proc/self/net/arp text: "IP address  HW type  Flags  HW address  Mask  Device".
    public static func lookup(_ address: IPv4Address, in table: String) -> MACAddress? {
        let wanted = address.description
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 4, fields[0] == wanted else { continue }
            // Flags 0x0: an incomplete entry whose MAC is all zeros.
            guard let flags = UInt32(fields[2].dropFirst(2), radix: 16), flags & 0x2 != 0 else { continue }
            if let mac = MACAddress(fields[3]) { return mac }
        }
        return nil
    }
}
