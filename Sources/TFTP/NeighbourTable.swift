// A TFTP request carries no MAC address; the kernel's neighbour table knows it, because
// the client resolved our address with ARP just before asking (and we learnt its MAC
// from that request). Used to refuse options per machine or vendor.

import UDP
#if canImport(Glibc)
import Glibc
#endif

public enum NeighbourTable {
    /// The MAC the kernel has for `address` (host order), or nil (loopback, not yet known).
    /// /proc/self/net rather than /proc/net: the systemd unit's ProcSubset=pid removes
    /// /proc/net, and every client would lose its MAC.
    public static func hardwareAddress(of address: UInt32) -> [UInt8]? {
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
    public static func lookup(_ address: UInt32, in table: String) -> [UInt8]? {
        let wanted = formatIPv4(address)
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 4, fields[0] == wanted else { continue }
            // Flags 0x0: an incomplete entry whose MAC is all zeros.
            guard let flags = UInt32(fields[2].dropFirst(2), radix: 16), flags & 0x2 != 0 else { continue }
            let octets = fields[3].split(separator: ":").compactMap { UInt8($0, radix: 16) }
            if octets.count == 6 { return octets }
        }
        return nil
    }
}
