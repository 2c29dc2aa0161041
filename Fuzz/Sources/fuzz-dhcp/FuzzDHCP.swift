// One input = one datagram on :67 and on :4011. A crash, a trap or an ASan report is a
// finding; so is a broken property (checked with precondition, which libFuzzer reports
// as a crash with the input saved).
import DHCP
import NetworkAddresses

private let policy = ProxyPolicy(settings: ProxySettings(
    serverAddress: IPv4Address(10, 77, 0, 2), httpBaseURL: "http://10.77.0.2:8080"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDHCP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let request = try? DHCPPacket(parsing: bytes) else { return 0 }
    // The codec promises byte-exact round trips of whatever it accepts.
    precondition(request.serialize() == bytes, "round trip changed the bytes")
    for port in [ProxyPort.dhcp, .pxe] {
        guard case .reply(let reply, _, _, _) = policy.decide(request, port: port) else { continue }
        let vendorClass = request.vendorClassIdentifier ?? ""
        precondition(vendorClass.hasPrefix("PXEClient") || vendorClass.hasPrefix("HTTPClient"), "answered a non-PXE client")
        precondition(request.op == 1, "answered a reply")
        precondition(reply.yiaddr == .zero, "offered an address")
        let wire = reply.serialize()
        precondition(wire.count <= 1472, "reply larger than one frame")
        precondition((try? DHCPPacket(parsing: wire)) == reply, "reply does not parse back")
    }
    return 0
}
