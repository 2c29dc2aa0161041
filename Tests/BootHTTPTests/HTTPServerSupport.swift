import BootHTTP
import BootMenus
import Foundation
import InstallJournal
import Logging
import TestSupport

/// A running BootHTTP server on 127.0.0.1 (a free port), with the shipped menus and a
/// temporary images folder and TFTP root, and every event it reported.
final class RunningBootServer: @unchecked Sendable {
    let port: Int
    let root: URL
    let store: BootContentStore
    private let task: Task<Void, Error>
    private let eventBox = EventBox()
    /// The server's drop and refusal counters.
    let statistics = BootHTTPStatistics()

    var events: [BootHTTPEvent] { eventBox.all }
    var base: String { "http://127.0.0.1:\(port)" }
    var imagesDirectory: URL { root.appendingPathComponent("images") }
    var tftpRoot: URL { root.appendingPathComponent("tftp") }

    /// Stand-ins for the signed chain's three files (the daemon reads the real ones).
    static let signedChain = ["debian-installer/amd64/bootnetx64.efi": "shim\n", "debian-installer/amd64/grubx64.efi": "grub\n",
                              "debian-installer/amd64/grub/grub.cfg": "set gp_server='(http,10.99.0.1:8080)'\n"]

    static let server = ServerSettings(baseURL: "http://10.99.0.1:8080", address: "10.99.0.1", site: "Atelier Garage")

    /// `initrdBytes`: size of the fake initrd (content is a fixed pseudo-random pattern).
    /// `bench`: also serve the bench page and its API from this view.
    /// `zeroCopy`: files sent with sendfile (the default) or streamed in `chunkBytes` chunks.
    init(initrdBytes: Int = 3 * 1024 * 1024 + 7, chunkBytes: Int = 64 * 1024, zeroCopy: Bool = true, idleTimeout: Duration = .seconds(60),
         bench: BenchView? = nil, benchStream: BenchStreamSettings = BenchStreamSettings(),
         reports: ReportSettings = ReportSettings(), records: MachineRecordsAccess? = nil) async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-http-\(UUID().uuidString)")
        let fm = FileManager.default
        let image = root.appendingPathComponent("images/debian-13-amd64")
        try fm.createDirectory(at: image, withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("tftp"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("outside"), withIntermediateDirectories: true)
        try Self.pattern(initrdBytes).write(to: image.appendingPathComponent("initrd.gz"))
        try Data("kernel".utf8).write(to: image.appendingPathComponent("linux"))
        try Data("secret\n".utf8).write(to: root.appendingPathComponent("outside/secret.txt"))
        try Data("EFI loader\n".utf8).write(to: root.appendingPathComponent("tftp/ipxe.efi"))
        // A link inside the root that stays inside, and two that lead out of it.
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("tftp/snponly.efi").path, withDestinationPath: "ipxe.efi")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("tftp/secret.efi").path, withDestinationPath: "../outside/secret.txt")
        try fm.createSymbolicLink(atPath: image.appendingPathComponent("escape").path, withDestinationPath: "/etc/passwd")

        let menus = try MenuSet.load(directory: Repo.path("pxe-menus"),
                                     images: ["debian-13-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")],
                                     imagesDirectory: image.deletingLastPathComponent().path)
        let store = BootContentStore(BootSnapshot(menus: menus, server: Self.server))
        self.store = store
        var configuration = BootHTTPConfiguration(host: "127.0.0.1", port: 0, imagesDirectory: root.appendingPathComponent("images").path,
                                                  tftpRoot: root.appendingPathComponent("tftp").path, fileChunkBytes: chunkBytes,
                                                  zeroCopyFiles: zeroCopy, idleTimeout: idleTimeout)
        configuration.signedChainFile = { Self.signedChain[$0].map { Array($0.utf8) } }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let box = eventBox
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let app = BootHTTPServer.application(configuration: configuration, content: store, logger: logger,
                                             statistics: statistics, onEvent: { box.append($0) },
                                             onRunning: { portContinuation.yield($0); portContinuation.finish() },
                                             bench: bench, benchStream: benchStream, reports: reports, records: records)
        task = Task { try await app.run() }
        var bound: Int?
        for await p in portStream { bound = p }
        guard let bound else { throw ServerDidNotStart() }
        port = bound
    }

    func stop() {
        task.cancel()
        try? FileManager.default.removeItem(at: root)
    }

    static func pattern(_ count: Int) -> Data {
        var state: UInt32 = 0x1234_5678
        return Data((0..<count).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt8(truncatingIfNeeded: state >> 24)
        })
    }

    /// curl with `arguments`; returns the status line's code, the headers and the body.
    /// Waits without blocking a thread: the server under test runs on the same
    /// cooperative pool, which a blocked thread would starve on a 2-core machine.
    func curl(_ arguments: [String]) async throws -> (status: Int, headers: [String: String], body: Data) {
        let id = UUID().uuidString
        let bodyFile = root.appendingPathComponent("body-\(id)")
        let headerFile = root.appendingPathComponent("headers-\(id)")
        defer {
            try? FileManager.default.removeItem(at: bodyFile)
            try? FileManager.default.removeItem(at: headerFile)
        }
        let status = try await runCurl(["-s", "--max-time", "60", "-D", headerFile.path, "-o", bodyFile.path] + arguments)
        guard status == 0 else { throw CurlFailed(status: status, arguments: arguments) }
        var code = 0
        var headers: [String: String] = [:]
        let headerText = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        for line in headerText.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("HTTP/") {
                code = Int(line.split(separator: " ")[1]) ?? 0
                headers = [:]
            } else if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (code, headers, (try? Data(contentsOf: bodyFile)) ?? Data())
    }
}

/// Runs curl and waits for its exit through the termination handler (curl's own
/// --max-time bounds the wait).
func runCurl(_ arguments: [String]) async throws -> Int32 {
    try await runWithoutBlocking("/usr/bin/curl", arguments)
}

/// Runs a command whose own options bound its time; output discarded.
func runWithoutBlocking(_ executable: String, _ arguments: [String]) async throws -> Int32 {
    try await startWithoutBlocking(executable, arguments).exitStatus()
}

/// A command started by `startWithoutBlocking`: its PID (to signal it) and its exit status.
struct StartedProcess: Sendable {
    let pid: pid_t
    private let ended: AsyncStream<Int32>

    fileprivate init(pid: pid_t, ended: AsyncStream<Int32>) {
        self.pid = pid
        self.ended = ended
    }

    /// Waits without blocking a thread until the command ends.
    func exitStatus() async -> Int32 {
        for await status in ended { return status }
        return -1
    }
}

/// Starts a command whose own options bound its time; output discarded.
func startWithoutBlocking(_ executable: String, _ arguments: [String]) throws -> StartedProcess {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let (ended, end) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
    process.terminationHandler = {
        end.yield($0.terminationStatus)
        end.finish()
    }
    try process.run()
    return StartedProcess(pid: process.processIdentifier, ended: ended)
}

struct CurlFailed: Error {
    var status: Int32
    var arguments: [String]
}

final class EventBox: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [BootHTTPEvent] = []
    func append(_ e: BootHTTPEvent) { lock.withLock { events.append(e) } }
    var all: [BootHTTPEvent] { lock.withLock { events } }
}
struct ServerDidNotStart: Error {}
