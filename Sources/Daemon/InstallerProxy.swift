// Which HTTP proxy the Debian installer is given (the preseed's mirror/http/proxy). The
// workshop's answer to "thirty-two PCs each fetch the same 1.5 GB" is Debian's own package
// cache, apt-cacher-ng, on the garage-pxe server: with `installer.proxy: auto` (the default)
// PCs get http://SERVER:3142 when an apt-cacher-ng answers there, and no proxy otherwise, so
// a server without it still installs PCs straight from the mirror.

import Foundation

public enum InstallerProxy {
    /// `installer.proxy` as written in the configuration.
    public enum Setting: Sendable, Equatable {
        case auto
        case none
        case url(String)
    }

    /// apt-cacher-ng's port (its Debian package's default).
    public static let packageCachePort = 3142
    /// Where Debian's apt-cacher-ng package puts the daemon: tells "not installed" from
    /// "installed but not answering" in what `check` says.
    public static let packageCacheProgram = "/usr/sbin/apt-cacher-ng"

    /// The proxy PCs get and why, in words for `check` and the daemon's log.
    public struct Decision: Sendable, Equatable {
        /// The URL written into preseeds; nil for none.
        public var url: String?
        public var reason: String

        public init(url: String?, reason: String) {
            self.url = url
            self.reason = reason
        }
    }

    /// Decides for `setting`; for auto, asks the server's address whether apt-cacher-ng
    /// answers there (one GET of its usage page, bounded to `timeoutSeconds`).
    public static func decide(_ setting: Setting, serverAddress: String, port: Int = packageCachePort,
                              timeoutSeconds: Int = 2) -> Decision {
        switch setting {
        case .none: return Decision(url: nil, reason: "installer.proxy is none")
        case .url(let url): return Decision(url: url, reason: "installer.proxy names it")
        case .auto:
            let endpoint = "\(serverAddress):\(port)"
            if let why = packageCacheProblem(host: serverAddress, port: port, timeoutSeconds: timeoutSeconds) {
                let installed = FileManager.default.isExecutableFile(atPath: packageCacheProgram)
                let hint = installed ? "apt-cacher-ng is installed but \(why)"
                    : "apt-cacher-ng is not installed (apt install apt-cacher-ng; \(why))"
                return Decision(url: nil, reason: "installer.proxy is auto and \(hint): PCs download from the mirror directly")
            }
            return Decision(url: "http://\(endpoint)", reason: "installer.proxy is auto and apt-cacher-ng answers on \(endpoint)")
        }
    }

    /// nil when an apt-cacher-ng answers on host:port, else what was found instead. Its
    /// answer to "/" is a usage page naming it ("Apt-Cacher NG"), whatever its status.
    static func packageCacheProblem(host: String, port: Int, timeoutSeconds: Int) -> String? {
        let request = "GET / HTTP/1.0\r\nHost: \(host):\(port)\r\nUser-Agent: garage-pxe\r\nConnection: close\r\n\r\n"
        do {
            let answer = try PlainHTTP.exchange(host: host, port: port, request: request, timeoutSeconds: timeoutSeconds,
                                                maxBytes: 16 << 10)
            return answer.body.contains("Apt-Cacher NG") ? nil : "what answers on \(host):\(port) is not apt-cacher-ng (HTTP \(answer.status))"
        } catch {
            return error.description
        }
    }
}
