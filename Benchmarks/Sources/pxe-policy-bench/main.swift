// pxe-policy-bench: the proxyDHCP work garage-pxe does per request in user space, without
// sockets: parse the request, decide, serialize the reply, and the accessors decide() uses.
// Where proxy-dhcp.sh says garage-pxe spends more CPU per reply than dnsmasq, this says on
// what. Single thread, a fixed number of iterations per item, best of several repeats.
//
// usage: pxe-policy-bench [--iterations N] [--repeats N]

import DHCP
import Glibc
import NetworkAddresses

@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

var iterations = 20_000
var repeats = 5
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--iterations": iterations = args.next().flatMap { Int($0) }.map { min(max($0, 1), 10_000_000) } ?? iterations
    case "--repeats": repeats = args.next().flatMap { Int($0) }.map { min(max($0, 1), 50) } ?? repeats
    default:
        print("usage: pxe-policy-bench [--iterations N] [--repeats N]")
        exit(2)
    }
}

/// A DISCOVER as a PXE ROM sends it (same options as pxe-loadgen's), and a :4011 REQUEST.
func request(_ type: DHCPMessageType) -> [UInt8] {
    var options: [DHCPOption] = [
        DHCPOption(.messageType, [type.rawValue]),
        DHCPOption(.maximumMessageSize, [0x05, 0xc0]),
        DHCPOption(.parameterRequestList, [1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135]),
        DHCPOption(.clientSystemArchitecture, [0, 0]),
        DHCPOption(.clientNetworkInterface, [1, 2, 1]),
        DHCPOption(.clientMachineIdentifier, [0] + (1...16).map { UInt8($0) }),
        DHCPOption(.vendorClassIdentifier, Array("PXEClient:Arch:00000:UNDI:002001".utf8)),
    ]
    if type == .request {
        options.append(DHCPOption(.vendorSpecific, PXEVendorOptions(bootItem: .init(type: 0x8000, layer: 0)).serialize()))
    }
    var p = DHCPPacket(op: .request, xid: 0x1234_5678, ciaddr: type == .request ? IPv4Address(10, 78, 0, 2) : .zero,
                       chaddr: [0x02, 0x67, 0, 0, 0, 1], options: options)
    p.padToMinimumLength()
    return p.serialize()
}

let policy = ProxyPolicy(settings: ProxySettings(serverAddress: IPv4Address(10, 78, 0, 1), httpBaseURL: "http://10.78.0.1"))
let discoverBytes = request(.discover)
let requestBytes = request(.request)
let discover = try! DHCPPacket(parsing: discoverBytes)
guard case .reply(let offer, _, _, _) = policy.decide(discover, port: .dhcp) else { fatalError("policy did not answer the DISCOVER") }

/// Keeps results alive so the optimizer cannot drop the work.
nonisolated(unsafe) var sink = 0

func pad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }

@MainActor func measurePlain(_ name: String, _ body: () -> Int) {
    var best = UInt64.max
    for _ in 0..<repeats {
        let t0 = monotonicNanos()
        for _ in 0..<iterations { sink &+= body() }
        best = min(best, monotonicNanos() - t0)
    }
    let ns = Int((Double(best) / Double(iterations)).rounded())
    print(name + String(repeating: " ", count: max(1, 46 - name.count)) + pad("\(ns)", 8) + " ns/op")
}

print("# pxe-policy-bench: \(iterations) iterations, best of \(repeats); per request, user space only")
measurePlain("DISCOVER: parse + decide + serialize (all)") {
    let p = try! DHCPPacket(parsing: discoverBytes)
    guard case .reply(let r, _, _, _) = policy.decide(p, port: .dhcp) else { return 0 }
    return r.serialize().count
}
measurePlain(":4011 REQUEST: parse + decide + serialize") {
    let p = try! DHCPPacket(parsing: requestBytes)
    guard case .reply(let r, _, _, _) = policy.decide(p, port: .pxe) else { return 0 }
    return r.serialize().count
}
measurePlain("  DHCPPacket(parsing:)") { (try! DHCPPacket(parsing: discoverBytes)).optionArea.items.count }
measurePlain("  ProxyPolicy.decide (DISCOVER)") {
    if case .reply(let r, _, _, _) = policy.decide(discover, port: .dhcp) { return Int(r.xid & 1) }
    return 0
}
measurePlain("  reply serialize()") { offer.serialize().count }
measurePlain("    DHCPPacket.options (getter, once)") { discover.options.count }
measurePlain("    option(.vendorClassIdentifier) (one call)") { discover.vendorClassIdentifier?.utf8.count ?? 0 }
measurePlain("    clientUUID (formatSMBIOSUUID)") { discover.clientUUID?.utf8.count ?? 0 }
measurePlain("    clientMAC?.description") { discover.clientMAC?.description.utf8.count ?? 0 }
measurePlain("    userClasses") { discover.userClasses.count }
measurePlain("    clientArchitectures") { discover.clientArchitectures?.count ?? 0 }
measurePlain("    reply DHCPPacket.init + padToMinimumLength") {
    var r = DHCPPacket(op: .reply, xid: 1, siaddr: IPv4Address(10, 78, 0, 1), chaddr: discover.chaddr,
                       sname: "10.78.0.1", file: "undionly.kpxe",
                       options: [DHCPOption(.messageType, [2]), DHCPOption(.vendorClassIdentifier, Array("PXEClient".utf8))])
    r.padToMinimumLength()
    return r.file.count
}
if sink == 42 { print("") }
