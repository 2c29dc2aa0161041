// tftp-load: N concurrent TFTP downloads of one file, each checked byte for byte against
// the local copy, timed one by one. RFC 1350 with blksize, windowsize (RFC 7440: ACK at
// the window's end, or at once for the last in-order block when a gap shows) and tsize.
// Optionally watches a server process: peak resident memory of it and its children,
// and the CPU seconds they spent during the run.
//
// tftp-load --server IP [--port 69] --file NAME --source PATH [--clients N]
//           [--blksize B] [--windowsize W] [--timeout-ms T] [--retries R] [--watch-pid P] [--label L]
//           [--repeat K]
// --repeat K: each client fetches the file K times, one after another, so one measurement
// lasts long enough to be steady.
// Prints one line of key=value pairs.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Options: Sendable {
    var server = "127.0.0.1"
    var port: UInt16 = 69
    var file = ""
    var source = ""
    var clients = 1
    var repeats = 1
    var blksize = 512
    var windowsize = 1
    var timeoutMs = 1000
    var retries = 10
    var watchPID: Int32?
    var label = "run"

    init(_ args: [String]) {
        var i = 0
        func next() -> String { i += 1; guard i < args.count else { fail("missing value for \(args[i - 1])") }; return args[i] }
        while i < args.count {
            switch args[i] {
            case "--server": server = next()
            case "--port": port = UInt16(next())!
            case "--file": file = next()
            case "--source": source = next()
            case "--clients": clients = Int(next())!
            case "--repeat": repeats = Int(next())!
            case "--blksize": blksize = Int(next())!
            case "--windowsize": windowsize = Int(next())!
            case "--timeout-ms": timeoutMs = Int(next())!
            case "--retries": retries = Int(next())!
            case "--watch-pid": watchPID = Int32(next())!
            case "--label": label = next()
            default: fail("unknown argument \(args[i])")
            }
            i += 1
        }
        if file.isEmpty || source.isEmpty { fail("--file and --source are required") }
        if clients < 1 || repeats < 1 { fail("--clients and --repeat must be at least 1") }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tftp-load: \(message)\n".utf8))
    exit(2)
}

/// The source file mapped read-only, for comparing every block.
struct Source: @unchecked Sendable {
    let base: UnsafeRawPointer
    let size: Int
    init(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { fail("cannot open \(path)") }
        var st = stat()
        fstat(fd, &st)
        size = Int(st.st_size)
        let p = mmap(nil, max(size, 1), PROT_READ, MAP_SHARED, fd, 0)
        guard p != MAP_FAILED, let p else { fail("cannot map \(path)") }
        base = UnsafeRawPointer(p)
        close(fd)
    }
}

struct TransferResult: Sendable {
    var ok: Bool
    var seconds: Double
    var bytes: Int
    var error: String
    var blksize: Int
    var windowsize: Int
}

func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func download(_ o: Options, _ source: Source) -> TransferResult {
    let start = monotonic()
    var result = transfer(o, source)
    result.seconds = monotonic() - start
    return result
}

func transfer(_ o: Options, _ source: Source) -> TransferResult {
    var result = TransferResult(ok: false, seconds: 0, bytes: 0, error: "", blksize: 512, windowsize: 1)
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { result.error = "socket"; return result }
    defer { close(fd) }
    var tv = timeval(tv_sec: o.timeoutMs / 1000, tv_usec: Int((o.timeoutMs % 1000) * 1000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var rcvbuf: Int32 = 4 << 20
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, socklen_t(MemoryLayout<Int32>.size))
    var server = sockaddr_in()
    server.sin_family = sa_family_t(AF_INET)
    server.sin_port = o.port.bigEndian
    inet_pton(AF_INET, o.server, &server.sin_addr)

    func send(_ bytes: [UInt8], to address: sockaddr_in) {
        var a = address
        _ = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }
    func ack(_ block: UInt16) -> [UInt8] { [0, 4, UInt8(block >> 8), UInt8(block & 0xff)] }

    var request: [UInt8] = [0, 1] + Array(o.file.utf8) + [0] + Array("octet".utf8) + [0]
    var options: [(String, String)] = [("tsize", "0")]
    if o.blksize != 512 { options.append(("blksize", String(o.blksize))) }
    if o.windowsize != 1 { options.append(("windowsize", String(o.windowsize))) }
    for (k, v) in options { request += Array(k.utf8) + [0] + Array(v.utf8) + [0] }
    send(request, to: server)

    var peer: sockaddr_in?
    var lastSent = request
    var expected: UInt16 = 1
    var offset = 0
    var blksize = 512
    var window = 1
    var sinceAck = 0
    var lastAcked: UInt16 = 0
    var gapReported = false
    var silences = 0
    var buffer = [UInt8](repeating: 0, count: 65536 + 4)
    while true {
        var from = sockaddr_in()
        var fromLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        let n = buffer.withUnsafeMutableBytes { raw in
            withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, raw.baseAddress, raw.count, 0, $0, &fromLength) }
            }
        }
        if n < 0 {
            if errno == EINTR { continue }
            silences += 1
            if silences > o.retries { result.error = "timeout at offset \(offset)"; return result }
            send(lastSent, to: peer ?? server)
            continue
        }
        if let p = peer {
            // Another TID: not ours (RFC 1350 would send error 5; staying quiet is enough here).
            if from.sin_port != p.sin_port || from.sin_addr.s_addr != p.sin_addr.s_addr { continue }
        } else {
            peer = from
        }
        guard n >= 4 else { continue }
        let opcode = UInt16(buffer[0]) << 8 | UInt16(buffer[1])
        let number = UInt16(buffer[2]) << 8 | UInt16(buffer[3])
        switch opcode {
        case 6 where offset == 0 && expected == 1:
            let fields = buffer[2..<n].split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            var i = 0
            while i + 1 < fields.count {
                if fields[i].lowercased() == "blksize" { blksize = Int(fields[i + 1]) ?? 512 }
                if fields[i].lowercased() == "windowsize" { window = Int(fields[i + 1]) ?? 1 }
                i += 2
            }
            result.blksize = blksize
            result.windowsize = window
            silences = 0
            lastSent = ack(0)
            send(lastSent, to: peer!)
        case 3:
            if number == expected {
                let length = n - 4
                guard offset + length <= source.size,
                      buffer.withUnsafeBytes({ memcmp($0.baseAddress! + 4, source.base + offset, length) }) == 0 else {
                    result.error = "content differs at offset \(offset)"
                    return result
                }
                offset += length
                silences = 0
                sinceAck += 1
                gapReported = false
                let last = length < blksize
                if last || sinceAck >= window {
                    lastSent = ack(number)
                    send(lastSent, to: peer!)
                    lastAcked = number
                    sinceAck = 0
                }
                if last {
                    result.bytes = offset
                    result.ok = offset == source.size
                    if !result.ok { result.error = "short file: \(offset) of \(source.size)" }
                    return result
                }
                expected &+= 1
            } else if number &- expected < 0x8000 {
                // Ahead of what we expect: a gap. Say once what arrived in order (RFC 7440),
                // and count the window again from there.
                if !gapReported {
                    lastSent = ack(expected &- 1)
                    send(lastSent, to: peer!)
                    lastAcked = expected &- 1
                    sinceAck = 0
                    gapReported = true
                }
            } else if number == lastAcked {
                // The server resent the block we acknowledged last: that ACK was lost.
                send(lastSent, to: peer!)
            }
        case 5:
            let text = buffer[4..<n].prefix { $0 != 0 }
            result.error = "error \(number): \(String(decoding: text, as: UTF8.self))"
            return result
        default:
            continue
        }
    }
}

/// Resident memory and CPU of a server and its child processes (tftpd-hpa forks one per
/// transfer), read from /proc.
enum ProcessWatch {
    static func tree(_ root: Int32) -> [Int32] {
        var parents: [Int32: [Int32]] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [root] }
        for name in entries {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, let ppid = Int32(fields[1]) { parents[ppid, default: []].append(pid) }
        }
        var out: [Int32] = [root]
        var i = 0
        while i < out.count { out += parents[out[i]] ?? []; i += 1 }
        return out
    }

    /// VmRSS in KiB.
    static func rss(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ")[1]) ?? 0
        }
        return 0
    }

    /// utime + stime + cutime + cstime, in seconds.
    static func cpu(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let f = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard f.count > 14 else { return 0 }
        let ticks = (11...14).compactMap { Double(f[$0]) }.reduce(0, +)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func treeCPU(_ root: Int32) -> Double {
        // Children still alive have not been added to the parent's cutime yet.
        tree(root).reduce(0) { $0 + ($1 == root ? cpu($1) : cpu($1)) }
    }
}

final class Peak: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var stop = false
    func record(_ v: Int) { lock.lock(); value = max(value, v); lock.unlock() }
    var peak: Int { lock.lock(); defer { lock.unlock() }; return value }
    func finish() { lock.lock(); stop = true; lock.unlock() }
    var stopped: Bool { lock.lock(); defer { lock.unlock() }; return stop }
}

/// One slot per client thread; each thread writes only its own.
final class ResultSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<TransferResult>
    init(_ count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: TransferResult(ok: false, seconds: 0, bytes: 0, error: "not run", blksize: 0, windowsize: 0))
    }
    func store(_ i: Int, _ r: TransferResult) { slots[i] = r }
    var all: [TransferResult] { Array(slots) }
}

func main() {
    let options = Options(Array(CommandLine.arguments.dropFirst()))
    let source = Source(options.source)
    let peak = Peak()
    var cpuBefore = 0.0
    if let pid = options.watchPID {
        cpuBefore = ProcessWatch.treeCPU(pid)
        peak.record(ProcessWatch.tree(pid).map(ProcessWatch.rss).reduce(0, +))
        Thread.detachNewThread {
            var samples = 0
            while !peak.stopped && samples < 100_000 {
                peak.record(ProcessWatch.tree(pid).map(ProcessWatch.rss).reduce(0, +))
                usleep(100_000)
                samples += 1
            }
        }
    }

    let results = ResultSlots(options.clients * options.repeats)
    let group = DispatchGroup()
    let wallStart = monotonic()
    for i in 0..<options.clients {
        group.enter()
        let thread = Thread {
            for k in 0..<options.repeats {
                results.store(k * options.clients + i, download(options, source))
            }
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
    let wall = monotonic() - wallStart
    peak.finish()

    let all = results.all
    let ok = all.filter(\.ok)
    let durations = ok.map(\.seconds).sorted()
    func percentile(_ p: Double) -> Double {
        guard !durations.isEmpty else { return 0 }
        return durations[min(durations.count - 1, Int((p * Double(durations.count)).rounded(.up)) - 1)]
    }
    let totalBytes = ok.map(\.bytes).reduce(0, +)
    var line = "label=\(options.label) clients=\(options.clients) repeat=\(options.repeats) ok=\(ok.count) failed=\(all.count - ok.count)"
    line += String(format: " wall_s=%.3f aggregate_MBps=%.3f p50_s=%.3f p99_s=%.3f", wall, Double(totalBytes) / wall / 1e6, percentile(0.5), percentile(0.99))
    line += " blksize=\(all.first?.blksize ?? 0) windowsize=\(all.first?.windowsize ?? 0)"
    if let pid = options.watchPID {
        line += String(format: " server_peak_rss_MB=%.1f server_cpu_s=%.2f", Double(peak.peak) / 1024, ProcessWatch.treeCPU(pid) - cpuBefore)
    }
    if let firstError = all.first(where: { !$0.ok })?.error { line += " first_error=\"\(firstError)\"" }
    print(line)
}

main()
