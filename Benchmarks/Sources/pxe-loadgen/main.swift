// pxe-loadgen: closed-loop proxyDHCP load. Keeps N requests outstanding, matches replies by
// xid, times them with CLOCK_MONOTONIC, counts a request with no valid reply within the
// timeout as lost. Stops after --count requests or --duration seconds, whichever is first,
// then waits at most --timeout-ms for the stragglers: every loop is bounded.
//
// Prints one JSON line (the summary, for scripts) and one line starting with "#" (for people).

import DHCP
import Glibc
import NetworkAddresses
import UDP

let usage = """
usage: pxe-loadgen --mode discover|request --server IP --interface IF [options]
  --mode discover        broadcast DHCPDISCOVER to 255.255.255.255:67, replies to :68
  --mode request         unicast DHCPREQUEST (ciaddr set) to SERVER:4011, replies to the sender
  --server IP            the proxy under test (replies from other sources count as foreign)
  --interface IF         interface to send on (SO_BINDTODEVICE)
  --client-address IP    ciaddr of REQUESTs (default: the interface's address)
  --concurrency N        requests outstanding at any time (default 1)
  --count N              stop after N requests (default 10000, at most 10000000)
  --duration S           stop sending after S seconds (default 5, at most 600)
  --timeout-ms MS        a request without a reply after MS ms is lost (default 1000)
  --arch N               client architecture, option 93 and option 60 (default 0, BIOS)
  --boot-item N          option 43 sub-option 71 boot server type in REQUESTs (default 0x8000)
  --client-port N        local port (default 68, as PXE clients use)
  --label TEXT           name recorded in the JSON (e.g. the server's)
  --sample-every N       full codec parse of every Nth reply besides the first 32 (default 64)
"""

func fail(_ message: String) -> Never {
    let line = "pxe-loadgen: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

struct Options {
    var mode = LoadMode.discover
    var server: IPv4Address?
    var interface: String?
    var clientAddress: IPv4Address?
    var concurrency = 1
    var count = 10_000
    var duration = 5.0
    var timeoutMs = 1000
    var arch: UInt16 = 0
    var bootItem: UInt16 = 0x8000
    var clientPort: UInt16 = 68
    var label = ""
    var sampleEvery = 64

    init(_ args: [String]) {
        var it = args.makeIterator()
        func value(_ flag: String) -> String {
            guard let v = it.next() else { fail("\(flag) needs a value") }
            return v
        }
        func integer(_ flag: String, _ range: ClosedRange<Int>) -> Int {
            let text = value(flag)
            let n = text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : Int(text)
            guard let n, range.contains(n) else { fail("\(flag) must be an integer in \(range), got '\(text)'") }
            return n
        }
        while let arg = it.next() {
            switch arg {
            case "--mode":
                let v = value(arg)
                guard let m = LoadMode(rawValue: v) else { fail("--mode must be discover or request") }
                mode = m
            case "--server":
                let v = value(arg)
                guard let a = IPv4Address(v) else { fail("--server: not an IPv4 address: \(v)") }
                server = a
            case "--interface": interface = value(arg)
            case "--client-address":
                let v = value(arg)
                guard let a = IPv4Address(v) else { fail("--client-address: not an IPv4 address: \(v)") }
                clientAddress = a
            case "--concurrency": concurrency = integer(arg, 1...4096)
            case "--count": count = integer(arg, 1...10_000_000)
            case "--duration":
                let v = value(arg)
                guard let d = Double(v), d > 0, d <= 600 else { fail("--duration must be in (0, 600] seconds") }
                duration = d
            case "--timeout-ms": timeoutMs = integer(arg, 1...10_000)
            case "--arch": arch = UInt16(integer(arg, 0...0xffff))
            case "--boot-item": bootItem = UInt16(integer(arg, 0...0xffff))
            case "--client-port": clientPort = UInt16(integer(arg, 1...65535))
            case "--label": label = value(arg)
            case "--sample-every": sampleEvery = integer(arg, 1...1_000_000)
            case "-h", "--help": print(usage); exit(0)
            default: fail("unknown argument '\(arg)'\n\(usage)")
            }
        }
        guard server != nil else { fail("--server is required\n\(usage)") }
        guard interface != nil else { fail("--interface is required (traffic must stay on the benchmark link)\n\(usage)") }
    }
}

@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

/// Rounded decimal text; null (JSON) for NaN.
func formatNumber(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "null" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (x * scale).rounded() / scale
    return digits == 0 ? String(Int(r)) : "\(r)"
}

// MARK: Setup
// Everything lives in one function: top-level state in main.swift would be main-actor
// isolated, and the hot loop wants plain locals anyway.

func runLoad() -> Int32 {
let options = Options(Array(CommandLine.arguments.dropFirst()))
guard let nic = NetworkInterface.named(options.interface!) else { fail("no interface '\(options.interface!)' in this network namespace") }
let clientAddress = options.clientAddress ?? nic.address ?? .zero
if options.mode == .request && clientAddress.isZero { fail("request mode needs an address: --client-address or an interface with one") }
let server = options.server!

let factory = RequestFactory(mode: options.mode, arch: options.arch, clientAddress: clientAddress,
                             bootItem: options.mode == .request ? options.bootItem : nil)
var template: RequestTemplate
do { template = try RequestTemplate(factory: factory) } catch { fail("\(error)") }
let expectation = ReplyExpectation(mode: options.mode, clientAddress: clientAddress)

let socket: UDPSocket
do {
    socket = try UDPSocket(UDPSocketOptions(
        port: options.clientPort, device: nic.name, broadcast: true, reuseAddress: true,
        receiveBufferBytes: 4 << 20))
} catch {
    fail("cannot open the client socket on \(nic.name):\(options.clientPort): \(error)")
}
let fd = socket.fd

var destination = sockaddr_in()
destination.sin_family = sa_family_t(AF_INET)
switch options.mode {
case .discover:
    destination.sin_port = UInt16(67).bigEndian
    destination.sin_addr = in_addr(s_addr: IPv4Address.broadcast.hostOrder.bigEndian)
case .request:
    destination.sin_port = UInt16(4011).bigEndian
    destination.sin_addr = in_addr(s_addr: server.hostOrder.bigEndian)
}

// xids start at a random base so replies from an earlier run cannot match this one.
let xidBase = UInt32.random(in: 0...UInt32.max)

// MARK: Run

let timeoutNanos = UInt64(options.timeoutMs) * 1_000_000
var inflight: [UInt32: UInt64] = [:]   // xid -> send time
inflight.reserveCapacity(options.concurrency * 2)
var latencies: [UInt64] = []
latencies.reserveCapacity(min(options.count, 4_000_000))
var seq: UInt32 = 0
var sent = 0
var sendErrors = 0
var lastSendError: Int32 = 0
var valid = 0
var validInWindow = 0
var invalid = 0
var invalidReasons: [String: Int] = [:]
var timeouts = 0
var late = 0          // replies for xids already timed out or answered
var foreign = 0       // datagrams from a source other than --server, or not BOOTREPLYs
var sampled = 0
var sampleFailures = 0
var firstReply: String?
var sampleFailure: String?

var receiveBuffer = [UInt8](repeating: 0, count: 2048)

@inline(__always) func sequence(of xid: UInt32) -> UInt32 { xid &- xidBase }

func sendOne(now: UInt64) -> Bool {
    seq &+= 1
    let xid = xidBase &+ seq
    template.patch(seq: seq, xid: xid)
    let n = template.bytes.withUnsafeBytes { raw in
        withUnsafePointer(to: &destination) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
    if n == template.bytes.count {
        inflight[xid] = monotonicNanos()
        sent += 1
        return true
    }
    sendErrors += 1
    lastSendError = errno
    return false
}

let start = monotonicNanos()
let sendDeadline = start + UInt64(options.duration * 1e9)
// Whatever happens, the run ends here: sending window, then one timeout for stragglers.
let hardDeadline = sendDeadline + timeoutNanos + 500_000_000
var stopped = false
var stopTime = sendDeadline
var nextExpiryScan = start + min(timeoutNanos / 4, 50_000_000)

func canSend() -> Bool { !stopped && sent + sendErrors < options.count }

while inflight.count < options.concurrency && canSend() {
    if !sendOne(now: monotonicNanos()) { break }
}

mainLoop: while true {
    var now = monotonicNanos()
    if !stopped && (sent + sendErrors >= options.count || now >= sendDeadline) {
        stopped = true
        stopTime = now
    }
    if stopped && inflight.isEmpty { break }
    if now >= hardDeadline { break }

    if now >= nextExpiryScan {
        let expired = inflight.filter { now &- $0.value > timeoutNanos }.map(\.key)
        for xid in expired { inflight[xid] = nil }
        timeouts += expired.count
        nextExpiryScan = now + min(timeoutNanos / 4, 50_000_000)
    }
    while inflight.count < options.concurrency && canSend() {
        if !sendOne(now: now) { break }
    }

    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let waitMs = Int32(max(1, min(10, Int((min(nextExpiryScan, hardDeadline) &- now) / 1_000_000))))
    let ready = poll(&pfd, 1, waitMs)
    if ready <= 0 { continue }

    // Drain what is queued, bounded per wake-up.
    for _ in 0..<1024 {
        var from = sockaddr_in()
        var fromLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        let n = receiveBuffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &fromLength)
                }
            }
        }
        if n < 0 { break }
        now = monotonicNanos()
        guard UInt32(bigEndian: from.sin_addr.s_addr) == server.hostOrder, n >= 8 else { foreign += 1; continue }
        let xid = receiveBuffer.withUnsafeBufferPointer {
            UInt32($0[4]) << 24 | UInt32($0[5]) << 16 | UInt32($0[6]) << 8 | UInt32($0[7])
        }
        guard let sentAt = inflight[xid] else {
            if receiveBuffer[0] == 2 { late += 1 } else { foreign += 1 }
            continue
        }
        let s = sequence(of: xid)
        let verdict = receiveBuffer.withUnsafeBytes { expectation.fastCheck(UnsafeRawBufferPointer(rebasing: $0[0..<n]), seq: s) }
        switch verdict {
        case .unrelated:
            foreign += 1
            continue
        case .invalid(let reason):
            inflight[xid] = nil
            invalid += 1
            invalidReasons[reason, default: 0] += 1
        case .valid:
            inflight[xid] = nil
            latencies.append(now &- sentAt)
            valid += 1
            if !stopped { validInWindow += 1 }
            // Full codec parse on a sample, off the timed path (the reply is already stamped).
            if valid <= 32 || valid % options.sampleEvery == 0 {
                sampled += 1
                let check = expectation.fullCheck(Array(receiveBuffer[0..<n]), seq: s, xid: xid)
                if !check.ok {
                    sampleFailures += 1
                    if sampleFailure == nil { sampleFailure = check.detail }
                } else if firstReply == nil {
                    firstReply = check.detail
                }
            }
        }
        // Closed loop: the answered slot is refilled at once.
        if inflight.count < options.concurrency && canSend() {
            if now >= sendDeadline { stopped = true; stopTime = now } else { _ = sendOne(now: now) }
        }
    }
}
let end = monotonicNanos()
timeouts += inflight.count   // still outstanding at the hard deadline
inflight.removeAll()
socket.close()

// MARK: Report

latencies.sort()
func percentile(_ p: Double) -> Double {
    guard !latencies.isEmpty else { return .nan }
    let rank = max(1, Int((p / 100 * Double(latencies.count)).rounded(.up)))
    return Double(latencies[min(rank, latencies.count) - 1]) / 1000
}
let windowSeconds = Double(stopTime &- start) / 1e9
let rate = windowSeconds > 0 ? Double(validInWindow) / windowSeconds : 0
let attempted = sent + sendErrors
let lost = attempted - valid
let lossPercent = attempted > 0 ? 100 * Double(lost) / Double(attempted) : 0
let meanMicros = latencies.isEmpty ? Double.nan : Double(latencies.reduce(0, +)) / Double(latencies.count) / 1000
let verified = valid > 0 && invalid == 0 && sampleFailures == 0
// The loadgen's own CPU time: if it nears the window, the loadgen, not the server, is the limit.
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let loadgenCPU = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6

func num(_ x: Double, _ digits: Int = 1) -> String { formatNumber(x, digits) }

var fields: [String] = [
    "\"label\":\(jsonString(options.label))",
    "\"mode\":\"\(options.mode.rawValue)\"",
    "\"port\":\(options.mode == .discover ? 67 : 4011)",
    "\"server\":\"\(server)\"",
    "\"concurrency\":\(options.concurrency)",
    "\"sent\":\(sent)", "\"send_errors\":\(sendErrors)",
    "\"valid\":\(valid)", "\"invalid\":\(invalid)", "\"timeouts\":\(timeouts)",
    "\"late\":\(late)", "\"foreign\":\(foreign)",
    "\"lost\":\(lost)", "\"loss_pct\":\(num(lossPercent, 3))",
    "\"window_s\":\(num(windowSeconds, 3))", "\"total_s\":\(num(Double(end &- start) / 1e9, 3))",
    "\"replies_per_s\":\(num(rate, 0))",
    "\"lat_us\":{\"mean\":\(num(meanMicros)),\"p50\":\(num(percentile(50))),\"p90\":\(num(percentile(90))),\"p99\":\(num(percentile(99))),\"max\":\(num(latencies.isEmpty ? .nan : Double(latencies.last!) / 1000))}",
    "\"loadgen_cpu_s\":\(num(loadgenCPU, 3))",
    "\"sampled\":\(sampled)", "\"sample_failures\":\(sampleFailures)",
    "\"verified\":\(verified)",
    "\"reply\":\(firstReply.map(jsonString) ?? "null")",
]
if let sampleFailure { fields.append("\"sample_failure\":\(jsonString(sampleFailure))") }
if !invalidReasons.isEmpty {
    fields.append("\"invalid_reasons\":{" + invalidReasons.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",") + "}")
}
if sendErrors > 0 { fields.append("\"last_send_error\":\(jsonString(String(cString: strerror(lastSendError))))") }
print("{" + fields.joined(separator: ",") + "}")
print("# \(options.label.isEmpty ? "" : options.label + " ")\(options.mode.rawValue) :\(options.mode == .discover ? 67 : 4011) c=\(options.concurrency): "
      + "\(num(rate, 0)) replies/s, latency µs p50 \(num(percentile(50))) p90 \(num(percentile(90))) p99 \(num(percentile(99))) max \(num(latencies.isEmpty ? .nan : Double(latencies.last!) / 1000)), "
      + "lost \(lost)/\(attempted) (\(num(lossPercent, 3))%), invalid \(invalid), \(verified ? "replies verified" : "NOT VERIFIED")")
// Loss is a measurement, not a failure; replies that are not proxy answers are.
return verified ? 0 : 1
}

exit(runLoad())
