import BootHTTP
import BootMenus
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// What a curious trainee or a broken script sends to the HTTP side, with curl and raw
/// sockets on 127.0.0.1: every refusal is counted, slow clients are dropped by the idle
/// timeout, and a real client (curl) is served the whole time.
@Suite("HTTP hostile input, on loopback")
struct HostileHTTPTests {
    /// curl downloads the initrd whole: the server still serves real clients.
    func stillServes(_ server: RunningBootServer) async throws {
        let r = try await server.curl(["\(server.base)/images/debian-13-amd64/initrd.gz"])
        #expect(r.status == 200)
        #expect(r.body == RunningBootServer.pattern(64 * 1024 + 3))
    }

    static let traversals = [
        "/images/../outside/secret.txt", "/images/%2e%2e/outside/secret.txt", "/images/%2E%2E%2Foutside%2Fsecret.txt",
        "/images/..%5c..%5coutside%5csecret.txt", "/images/debian-13-amd64/..%2f..%2f..%2fetc%2fpasswd",
        "/images/./../outside/secret.txt", "/images/debian-13-amd64/escape", "/images/%2fetc%2fpasswd",
        "/tftp/..", "/tftp/../../../../etc/passwd", "/tftp/secret.efi", "/tftp/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/images/debian-13-amd64/.%2e/.%2e/outside/secret.txt", "/images/debian-13-amd64/%00",
    ]

    @Test("traversal in every spelling: 403 or 404, never a byte from outside, each refusal counted")
    func traversal() async throws {
        let server = try await RunningBootServer(initrdBytes: 64 * 1024 + 3)
        defer { server.stop() }
        for path in Self.traversals {
            let r = try await server.curl(["--path-as-is", "\(server.base)\(path)"])
            #expect([400, 403, 404].contains(r.status), "\(path): \(r.status)")
            let body = String(decoding: r.body, as: UTF8.self)
            #expect(!body.contains("secret\n") && !body.contains("root:"), "\(path)")
        }
        #expect(server.statistics.counts.refusedTotal == Self.traversals.count)
        try await stillServes(server)
    }

    static let badMACs = [
        "52:54:00:12:34", "52:54:00:12:34:5g", "52:54-00:12:34:56", "52:54:00:12:34:56:78", "%00", "52%0A54%0A00%0A12%0A34%0A56",
        "%EF%BC%95%EF%BC%92:54:00:12:34:56", String(repeating: "a", count: 5000), "52:54:00:12:34:56%00", "-1", "%zz",
    ]

    @Test("invalid MACs on every route that takes one: 400, counted, never an event for the machine")
    func invalidMACs() async throws {
        let server = try await RunningBootServer(initrdBytes: 64 * 1024 + 3)
        defer { server.stop() }
        let routes = ["/boot.ipxe?mac=", "/boot/debian-13-auto.ipxe?mac=", "/preseed/debian-13-auto.cfg?mac=", "/progress?stage=finished&mac="]
        for route in routes {
            for mac in Self.badMACs {
                let r = try await server.curl(["\(server.base)\(route)\(mac)"])
                #expect(r.status == 400, "\(route)\(mac.prefix(40)): \(r.status)")
            }
        }
        #expect(server.statistics.counts.refused[400] == routes.count * Self.badMACs.count)
        #expect(!server.events.contains { if case .progress = $0 { true } else { false } })
        try await stillServes(server)
    }

    @Test("huge query strings and headers: a long value is a 400, a long target a 414, a huge header drops the connection; all counted")
    func hugeQueryStrings() async throws {
        let server = try await RunningBootServer(initrdBytes: 64 * 1024 + 3)
        defer { server.stop() }
        // 4 KiB serial: within the target limit, refused by validation (64 characters at most).
        let longValue = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:12:34:56&serial=\(String(repeating: "S", count: 4_000))"])
        #expect(longValue.status == 400)
        // 500 unknown parameters (under 8 KiB) are ignored; the first of each name wins.
        let many = (0..<500).map { "p\($0)=\($0)" }.joined(separator: "&")
        let manyParameters = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:12:34:56&platform=efi&\(many)&platform=amiga"])
        #expect(manyParameters.status == 200)
        #expect(server.events.contains { if case .menuShown(let m, _, _, _) = $0 { m.mac.description == "52:54:00:12:34:56" && m.platform == .efi } else { false } })
        // 9 KB and 60 KB targets: 414 before any route parses them.
        for size in [9_000, 60_000] {
            let r = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:12:34:56&junk=\(String(repeating: "J", count: size))"])
            #expect(r.status == 414, "\(size)")
        }
        // Past the HTTP decoder's 80 KiB (a 100 KiB target, a 100 KiB header; one argument
        // stays under Linux's 128 KiB): 400 from the decoder, the connection dropped.
        let hugeTarget = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:12:34:56&junk=\(String(repeating: "J", count: 100_000))"])
        #expect(hugeTarget.status == 400)
        let hugeHeader = try await server.curl(["-H", "X-Junk: \(String(repeating: "H", count: 100_000))", "\(server.base)/boot.ipxe"])
        #expect(hugeHeader.status == 400)
        try await waitUntil { server.statistics.counts.malformedConnections >= 2 }
        let counts = server.statistics.counts
        #expect(counts.malformedConnections == 2)
        #expect(counts.refused[400] == 1)
        #expect(counts.refused[414] == 2)
        try await stillServes(server)
    }

    @Test("slow clients that never finish a request are dropped by the idle timeout and counted; others are served meanwhile")
    func slowClients() async throws {
        let server = try await RunningBootServer(initrdBytes: 64 * 1024 + 3, idleTimeout: .seconds(1))
        defer { server.stop() }
        let slow = try (0..<20).map { index in
            let fd = try SlowClient.connect(port: server.port)
            // A request head cut before its final CRLF, or a single byte, or nothing at all.
            let partial = ["GET /boot.ipxe HTTP/1.1\r\nHost: x\r\n", "G", ""][index % 3]
            try SlowClient.send(fd, partial)
            return fd
        }
        defer { slow.forEach { close($0) } }
        // While they hang, a real client gets its file and its menu.
        try await stillServes(server)
        #expect(try await server.curl(["\(server.base)/boot.ipxe"]).status == 200)
        // Each slow connection is closed by the server (EOF on our side), within a bound.
        var closed = Set<Int32>()
        for _ in 0..<2400 where closed.count < slow.count {
            for fd in slow where !closed.contains(fd) && SlowClient.isClosedByPeer(fd) { closed.insert(fd) }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(closed.count == slow.count, "\(slow.count - closed.count) slow connections still open")
        try await waitUntil { server.statistics.counts.closedBeforeRequest >= slow.count }
        #expect(server.statistics.counts.closedBeforeRequest >= slow.count)
        try await stillServes(server)
    }

    /// Polls (bounded, without blocking a thread) until `done`.
    func waitUntil(_ done: () -> Bool) async throws {
        for _ in 0..<4800 where !done() { try await Task.sleep(for: .milliseconds(25)) }
    }
}

/// A TCP client that connects and then says (almost) nothing.
enum SlowClient {
    struct Failed: Error { var what: String }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failed(what: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { close(fd); throw Failed(what: "connect: errno \(errno)") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    static func send(_ fd: Int32, _ text: String) throws {
        guard !text.isEmpty else { return }
        let sent = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == text.utf8.count else { throw Failed(what: "send: errno \(errno)") }
    }

    /// True once the server has closed the connection: a read gives EOF or a reset.
    static func isClosedByPeer(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        if n == 0 { return true }
        if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        return false  // the server answered something (e.g. a 408): keep reading until EOF
    }
}
