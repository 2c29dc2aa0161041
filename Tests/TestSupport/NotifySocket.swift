// A datagram socket standing in for systemd's NOTIFY_SOCKET, so tests observe exactly
// what the daemon tells systemd (READY, STATUS, WATCHDOG, RELOADING, STOPPING).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class NotifySocket: @unchecked Sendable {
    public let path: String
    private let fd: Int32

    public init() throws {
        path = "/tmp/gpx-notify-\(getpid())-\(UInt32.random(in: 0..<1_000_000)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CommandFailed(description: "socket(AF_UNIX): errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buf in
            for (i, b) in bytes.enumerated() where i < buf.count - 1 { buf[i] = b }
        }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw CommandFailed(description: "bind \(path): errno \(errno)") }
        chmod(path, 0o666) // the daemon may have dropped to an unprivileged user
    }

    /// The next message, or nil after `seconds`.
    public func receive(within seconds: Double) -> String? {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Messages until one satisfies `match` (returned last), bounded by `seconds`.
    public func messages(until match: (String) -> Bool, within seconds: Double) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard let m = receive(within: max(0.05, deadline.timeIntervalSinceNow)) else { continue }
            out.append(m)
            if match(m) { break }
        }
        return out
    }

    deinit {
        close(fd)
        unlink(path)
    }
}
