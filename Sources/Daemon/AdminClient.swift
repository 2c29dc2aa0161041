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
        let request = "POST \(target) HTTP/1.1\r\nHost: \(host):\(port)\r\nAuthorization: Bearer \(token)\r\nContent-Length: 0\r\nConnection: close\r\nUser-Agent: garage-pxe-cli\r\n\r\n"
        do {
            return try PlainHTTP.exchange(host: host, port: port, request: request, timeoutSeconds: timeoutSeconds)
        } catch .notListening(let reason) {
            throw .notListening("\(reason): is the daemon running?")
        } catch .failed(let reason) {
            throw .failed("cannot reach the daemon: \(reason)")
        }
    }
}
