// The CLI's side of an admin action: one HTTP/1.1 POST to the running daemon with the admin
// token, over a plain TCP socket (the binary stays free of an HTTP client library; the
// exchange is one request and one short answer). Bounded in time.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum AdminClientError: Error, Equatable, CustomStringConvertible {
    /// Nothing listens there (the daemon is not running, or on another address/port).
    case notListening(String)
    case failed(String)

    public var description: String {
        switch self {
        case .notListening(let s), .failed(let s): s
        }
    }
}

public enum AdminClient {
    /// The address the CLI reaches the daemon at: its listen address, loopback for 0.0.0.0.
    public static func host(for config: GaragePXEConfig) -> String {
        config.httpListenAddress == "0.0.0.0" ? "127.0.0.1" : config.httpListenAddress
    }

    /// POSTs `target` (path and query) with `Authorization: Bearer token`; the status and body.
    public static func post(host: String, port: Int, target: String, token: String,
                            timeoutSeconds: Int = 10) throws(AdminClientError) -> (status: Int, body: String) {
        let endpoint = "\(host):\(port)"
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .failed("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw .failed("\(host) is not an IPv4 address") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            if errno == ECONNREFUSED { throw .notListening("nothing answers on \(endpoint) (\(reason)): is the daemon running?") }
            throw .failed("cannot reach the daemon on \(endpoint): \(reason)")
        }
        let request = "POST \(target) HTTP/1.1\r\nHost: \(endpoint)\r\nAuthorization: Bearer \(token)\r\nContent-Length: 0\r\nConnection: close\r\nUser-Agent: garage-pxe-cli\r\n\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; throw .failed("sending to \(endpoint): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while answer.count < 1 << 16 {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { if errno == EINTR { continue }; throw .failed("reading from \(endpoint): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            answer.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: answer, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw .failed("\(endpoint) did not answer HTTP")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }
}
