// Is this datagram a real proxy answer to our request? Every reply gets the fast check on
// its raw bytes (no allocation, so the loadgen stays cheap next to the server it measures);
// a sample also goes through the DHCP codec's full parse.

import DHCP
import NetworkAddresses

enum ReplyVerdict: Equatable {
    case valid
    /// Parsed far enough to match an outstanding xid, but not a proxy answer.
    case invalid(String)
    /// Not ours: short, not a BOOTREPLY, or an xid we are not waiting for.
    case unrelated
}

struct ReplyExpectation {
    let mode: LoadMode
    let clientAddress: IPv4Address

    static let pxeClient: [UInt8] = Array("PXEClient".utf8)

    var expectedType: UInt8 { mode == .discover ? DHCPMessageType.offer.rawValue : DHCPMessageType.ack.rawValue }

    /// Header and options walk on raw bytes. `seq` is the sequence number the xid maps to.
    func fastCheck(_ b: UnsafeRawBufferPointer, seq: UInt32) -> ReplyVerdict {
        let n = b.count
        guard n >= DHCPPacket.headerLength + 4, b[0] == 2 else { return .unrelated }
        guard b[1] == 1, b[2] == 6 else { return .invalid("not Ethernet") }
        let c = RequestTemplate.chaddrOffset
        guard b[c] == 0x02, b[c + 1] == 0x67, b[c + 2] == UInt8(seq >> 24), b[c + 3] == UInt8((seq >> 16) & 0xff),
              b[c + 4] == UInt8((seq >> 8) & 0xff), b[c + 5] == UInt8(seq & 0xff)
        else { return .invalid("chaddr mismatch") }
        guard b[236] == 99, b[237] == 130, b[238] == 83, b[239] == 99 else { return .invalid("no magic cookie") }
        let yiaddr = UInt32(b[16]) << 24 | UInt32(b[17]) << 16 | UInt32(b[18]) << 8 | UInt32(b[19])
        // A proxy never gives an address. dnsmasq's :4011 ACK echoes the client's own
        // address in yiaddr (seen in captures), which is still no lease.
        if yiaddr != 0 && !(mode == .request && yiaddr == clientAddress.hostOrder) {
            return .invalid("yiaddr \(IPv4Address(hostOrder: yiaddr)) is an address offer, not a proxy offer")
        }
        var messageType: UInt8?
        var pxeClient = false
        var hasBootInfo = b[108] != 0   // `file` field
        var i = DHCPPacket.headerLength + 4
        while i < n {
            let code = b[i]
            if code == 0 { i += 1; continue }
            if code == 255 { break }
            guard i + 1 < n else { return .invalid("option \(code) truncated") }
            let length = Int(b[i + 1])
            guard i + 2 + length <= n else { return .invalid("option \(code) overruns") }
            switch code {
            case 53 where length == 1: messageType = b[i + 2]
            case 60:
                let p = Self.pxeClient
                pxeClient = length >= p.count && (0..<p.count).allSatisfy { b[i + 2 + $0] == p[$0] }
            case 43, 67: hasBootInfo = true   // boot menu / boot servers, or a long boot file name
            default: break
            }
            i += 2 + length
        }
        guard messageType == expectedType else { return .invalid("message type \(messageType.map(String.init) ?? "none"), want \(expectedType)") }
        guard pxeClient else { return .invalid("no option 60 PXEClient") }
        guard hasBootInfo else { return .invalid("neither a boot file nor PXE option 43") }
        return .valid
    }

    /// The same questions through the codec, plus a short description for the report.
    func fullCheck(_ bytes: [UInt8], seq: UInt32, xid: UInt32) -> (ok: Bool, detail: String) {
        let p: DHCPPacket
        do { p = try DHCPPacket(parsing: bytes) } catch { return (false, "codec rejects reply: \(error)") }
        guard p.op == BOOTPOperation.reply.rawValue, p.xid == xid else { return (false, "op/xid") }
        guard p.clientMAC == MACAddress(bytes: RequestFactory.mac(seq)) else { return (false, "chaddr") }
        guard p.messageType?.rawValue == expectedType else { return (false, "message type \(String(describing: p.messageType))") }
        guard p.vendorClassIdentifier?.hasPrefix("PXEClient") == true else { return (false, "option 60 \(p.vendorClassIdentifier ?? "absent")") }
        guard p.yiaddr.isZero || (mode == .request && p.yiaddr == clientAddress) else { return (false, "yiaddr \(p.yiaddr)") }
        return (true, Self.describe(p))
    }

    static func describe(_ p: DHCPPacket) -> String {
        var parts = ["\(p.messageType?.description ?? "?") \(p.serialize().count)B", "yiaddr \(p.yiaddr)", "siaddr \(p.siaddr)"]
        if let sid = p.serverIdentifier { parts.append("opt54 \(sid)") }
        parts.append("opt60 \(p.vendorClassIdentifier ?? "-")")
        parts.append("file \(p.bootFileName ?? "-")")
        if let pxe = p.pxeVendorOptions {
            var o43: [String] = []
            if let d = pxe.discoveryControl { o43.append("discovery=\(d)") }
            if let s = pxe.bootServers { o43.append("servers=" + s.map { "0x" + String($0.type, radix: 16) }.joined(separator: ",")) }
            if let m = pxe.bootMenu { o43.append("menu=" + m.map { "0x" + String($0.type, radix: 16) + ":" + $0.description }.joined(separator: ",")) }
            if let pr = pxe.menuPrompt { o43.append("prompt=\(pr.timeout)") }
            if let bi = pxe.bootItem { o43.append("item=0x" + String(bi.type, radix: 16) + "/\(bi.layer)") }
            parts.append("opt43 " + o43.joined(separator: " "))
        } else {
            parts.append("opt43 -")
        }
        return parts.joined(separator: "; ")
    }
}
