import Dispatch
import Foundation
import NetworkAddresses
import TFTP
import TestSupport
import UDP

/// Files the clients fetch, made once per test process under one temporary folder.
enum Fixtures {
    static let bigSize = 40 * 1024 * 1024 + 77

    /// root/: empty, one, exact512, big (40 MiB + 77: past 65535 blocks of 512), a link
    /// inside the root, a link out of it, a sub-folder; outside/: a secret.
    static let base: String = {
        // One folder per checkout, emptied at each run, so runs do not pile up 40 MiB
        // files and two checkouts testing at once do not share one.
        let checkout = #filePath.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-tftp-clients-\(String(checkout, radix: 36))").path
        let fm = FileManager.default
        try? fm.removeItem(atPath: base)
        try! fm.createDirectory(atPath: base + "/root/sub", withIntermediateDirectories: true)
        try! fm.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        write(base + "/root/empty", [])
        write(base + "/root/one", [0x42])
        write(base + "/root/exact512", pseudoRandom(512, seed: 5))
        write(base + "/root/sub/kernel", pseudoRandom(300_000, seed: 6))
        write(base + "/root/big", pseudoRandom(bigSize, seed: 7))
        write(base + "/root/text.cfg", Array(String(repeating: "menu label Install\t#x\n", count: textLines).utf8))
        write(base + "/outside/secret", Array("not for clients\n".utf8))
        try! fm.createSymbolicLink(atPath: base + "/root/linked", withDestinationPath: "sub/kernel")
        try! fm.createSymbolicLink(atPath: base + "/root/escape", withDestinationPath: "../outside/secret")
        return base
    }()

    static var root: String { base + "/root" }
    /// Lines of 22 bytes in text.cfg; each LF becomes CR LF on the wire in netascii.
    static let textLines = 1000

    static func write(_ path: String, _ bytes: [UInt8]) {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { fatalError("cannot write \(path)") }
    }

    /// xorshift64*: the same bytes on every run, quickly.
    static func pseudoRandom(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i < count {
                state ^= state >> 12; state ^= state << 25; state ^= state >> 27
                var word = state &* 0x2545_F491_4F6C_DD1D
                let n = min(8, count - i)
                withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: i).copyMemory(from: $0.baseAddress!, byteCount: n) }
                i += n
            }
        }
        return out
    }

    /// A fresh folder for one test's downloads.
    static func scratch() -> String {
        let dir = base + "/out-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Collects the server's reports across queues.
final class Reports: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [TFTPTransferReport] = []
    func add(_ r: TFTPTransferReport) { lock.lock(); items.append(r); lock.unlock() }
    var all: [TFTPTransferReport] { lock.lock(); defer { lock.unlock() }; return items }

    /// Waits (bounded) until `count` reports arrived; transfers report after the last ACK.
    func wait(for count: Int, seconds: Double = 120) -> [TFTPTransferReport] {
        let deadline = Date().addingTimeInterval(seconds)
        while all.count < count && Date() < deadline { usleep(2000) }
        return all
    }
}

/// The server on 127.0.0.1 and a port of its own, so tests run side by side.
final class LoopbackServer {
    let server: TFTPServer
    let reports = Reports()
    let port: UInt16

    init(settings: TFTPServerSettings = TFTPServerSettings(root: Fixtures.root, maxBlockSize: 65464, maxWindowSize: 16),
         neighbours: @escaping @Sendable (IPv4Address) -> MACAddress? = { _ in nil }) throws {
        let reports = self.reports
        server = TFTPServer(settings: settings, listen: TFTPListenSettings(device: nil, bindAddress: IPv4Address("127.0.0.1")!, port: 0),
                            queue: DispatchQueue(label: "tftp-test"), neighbours: neighbours) { reports.add($0) }
        try server.start()
        port = server.boundPort!
    }

    deinit { server.stop() }
}

func sha256(_ path: String) throws -> String {
    let result = try runProcess("/usr/bin/sha256sum", [path], limit: 60)
    return String(result.output.prefix(64))
}

/// The three real clients, each with the options it is told to ask for.
enum Client: String, CaseIterable, CustomStringConvertible, Sendable {
    /// tftp-hpa 5.2: no options, lockstep at 512.
    case tftpHPA = "tftp-hpa"
    case atftpBlksize = "atftp blksize 1468"
    case atftpWindow = "atftp windowsize 8"
    case curl = "curl"
    case curlBlksize = "curl --tftp-blksize 1468"

    var description: String { rawValue }

    /// Command that fetches `name` from `host:port` into `output`.
    func command(host: String, port: UInt16, name: String, output: String, mode: String = "octet") -> (String, [String]) {
        switch self {
        case .tftpHPA:
            return ("/usr/bin/tftp", ["-m", mode, host, "\(port)", "-c", "get", name, output])
        case .atftpBlksize:
            return ("/usr/bin/atftp", ["--get", "-r", name, "-l", output, "--option", "blksize 1468", "--option", "mode \(mode)", host, "\(port)"])
        case .atftpWindow:
            return ("/usr/bin/atftp", ["--get", "-r", name, "-l", output, "--option", "windowsize 8", "--option", "mode \(mode)", host, "\(port)"])
        case .curl:
            return ("/usr/bin/curl", ["-sS", "-o", output, "tftp://\(host):\(port)/\(name)"])
        case .curlBlksize:
            return ("/usr/bin/curl", ["-sS", "--tftp-blksize", "1468", "-o", output, "tftp://\(host):\(port)/\(name)"])
        }
    }

    func fetch(host: String = "127.0.0.1", port: UInt16, name: String, output: String, limit: Double = 120,
               wrapper: [String] = []) throws -> ProcessResult {
        let (executable, arguments) = command(host: host, port: port, name: name, output: output)
        if wrapper.isEmpty { return try runProcess(executable, arguments, limit: limit) }
        return try runProcess(wrapper[0], Array(wrapper.dropFirst()) + [executable] + arguments, limit: limit)
    }
}
