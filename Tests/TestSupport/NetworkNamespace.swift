// Helpers for tests that run the real daemon: a private network namespace (so nothing
// it binds touches the host's network), child processes with bounded waits, and the
// repository's paths. Test-only code.

import Foundation

public enum Repo {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The built daemon: $GARAGE_PXE_BIN, else the debug build of this checkout.
    public static var binary: String {
        ProcessInfo.processInfo.environment["GARAGE_PXE_BIN"] ?? path(".build/debug/garage-pxe")
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var description: String
}

/// What a command left: exit status (the signal's number, for a killed one), stdout and
/// stderr together, and whether it was killed for running past its limit.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var output: String
    public var timedOut: Bool
}

/// Runs a command with an empty stdin, killed after `limit` seconds. Never throws for the
/// exit status: the caller judges it (a TFTP client's failure is often what a test expects).
public func runProcess(_ executable: String, _ arguments: [String], limit: Double = 60,
                       environment: [String: String]? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(limit)
    let reader = DispatchQueue(label: "run-reader")
    let box = OutputBox()
    let done = DispatchSemaphore(value: 0)
    reader.async {
        box.data = pipe.fileHandleForReading.readDataToEndOfFile()
        done.signal()
    }
    while process.isRunning && Date() < deadline { usleep(10_000) }
    let timedOut = process.isRunning
    if timedOut { process.terminate() }
    process.waitUntilExit()
    _ = done.wait(timeout: .now() + 5)
    return ProcessResult(status: process.terminationStatus, output: String(decoding: box.data, as: UTF8.self), timedOut: timedOut)
}

/// Runs a command to completion (bounded by `limit` seconds) and returns its output;
/// throws when it fails, unless `allowFailure`.
@discardableResult
public func run(_ executable: String, _ arguments: [String], limit: Double = 60,
               environment: [String: String]? = nil, allowFailure: Bool = false) throws -> (status: Int32, output: String) {
    let result = try runProcess(executable, arguments, limit: limit, environment: environment)
    if !allowFailure && result.status != 0 {
        throw CommandFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
    }
    return (result.status, result.output)
}

final class OutputBox: @unchecked Sendable { var data = Data() }

/// A network namespace with loopback and an interface `eth0` (one end of a veth pair whose
/// other end, `eth1`, stays inside) carrying
/// `address/24`; deleted by `remove()` (call it in a defer).
public final class NetworkNamespace: @unchecked Sendable {
    public let name: String
    public let address: String

    public init(prefix: String, address: String = "10.99.0.1") throws {
        name = "\(prefix)\(UInt32.random(in: 0..<1_000_000))"
        self.address = address
        try run("/usr/sbin/ip", ["netns", "add", name])
        do {
            try run("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
            // A veth pair kept inside the namespace (this kernel has no dummy driver).
            try run("/usr/sbin/ip", ["-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"])
            try run("/usr/sbin/ip", ["-n", name, "link", "set", "eth1", "up"])
            try run("/usr/sbin/ip", ["-n", name, "addr", "add", "\(address)/24", "brd", "+", "dev", "eth0"])
            try run("/usr/sbin/ip", ["-n", name, "link", "set", "eth0", "up"])
        } catch {
            remove()
            throw error
        }
    }

    public func remove() {
        _ = try? run("/usr/sbin/ip", ["netns", "delete", name], allowFailure: true)
    }

    /// Runs `body` on this thread with the thread moved into the namespace, then moves it
    /// back. A socket made in `body` stays in the namespace for its whole life, so a test can
    /// talk to a daemon through the namespace's interfaces as a PC on the bench LAN would.
    /// `body` must not suspend (a synchronous closure): the move is the calling thread's alone.
    public func inside<T>(_ body: () throws -> T) throws -> T {
        typealias SetNS = @convention(c) (Int32, Int32) -> Int32
        // Glibc's module map leaves setns(2) out; glibc exports it.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else {
            throw CommandFailed(description: "setns is not exported by this libc")
        }
        let setns = unsafeBitCast(symbol, to: SetNS.self)
        let newNet: Int32 = 0x4000_0000  // CLONE_NEWNET
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open("/var/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        defer {
            if home >= 0 { close(home) }
            if target >= 0 { close(target) }
        }
        guard home >= 0, target >= 0 else { throw CommandFailed(description: "cannot open the namespaces of \(name): errno \(errno)") }
        guard setns(target, newNet) == 0 else { throw CommandFailed(description: "setns into \(name): errno \(errno)") }
        defer {
            // Failing to come back would leave a pooled test thread in a deleted namespace.
            if setns(home, newNet) != 0 { fatalError("cannot return this thread to its network namespace: errno \(errno)") }
        }
        return try body()
    }

    /// Moves the far end of eth0's veth (eth1) into `peer`, renamed `pc0` and given
    /// `address`: a PC on the daemon's link in a namespace of its own, whose packets reach
    /// the daemon's eth0 (and its neighbour table) as a real PC's would.
    public func plugPC(into peer: NetworkNamespace, address: String = "10.99.0.9/24") throws {
        try run("/usr/sbin/ip", ["-n", name, "link", "set", "eth1", "down"])
        try run("/usr/sbin/ip", ["-n", name, "link", "set", "eth1", "name", "pc0"])
        try run("/usr/sbin/ip", ["-n", name, "link", "set", "pc0", "netns", peer.name])
        try run("/usr/sbin/ip", ["-n", peer.name, "addr", "add", address, "dev", "pc0"])
        try run("/usr/sbin/ip", ["-n", peer.name, "link", "set", "pc0", "up"])
    }

    /// Starts `arguments` inside the namespace. `ip netns exec` execs in place, so the
    /// returned process's PID is the command's own.
    public func spawn(_ arguments: [String], environment: [String: String] = [:], output: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", name] + arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }
}

/// Waits (bounded) until `condition` holds; returns whether it did.
public func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Stops a child we started: SIGTERM, bounded wait, then SIGKILL and another bounded wait.
/// Never waitUntilExit: a test stopping a child Foundation does not see end (a tracer that
/// exited while its tracee lived on stayed a zombie, `isRunning` true) would hold a thread
/// of the test pool for good, and starve every test after it.
public func stop(_ process: Process, signal: Int32 = SIGTERM, within seconds: Double = 10) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, signal)
    if !waitUntil(seconds, { !process.isRunning }) {
        kill(process.processIdentifier, SIGKILL)
        _ = waitUntil(seconds) { !process.isRunning }
    }
}

/// The shipped menus need an image named `debian-13-amd64` before the daemon starts;
/// tests that are not about images get this small stand-in (real files, tiny content).
public enum TestImages {
    public static func create(in directory: URL) throws {
        let image = directory.appendingPathComponent("debian-13-amd64")
        try FileManager.default.createDirectory(at: image, withIntermediateDirectories: true)
        try Data("kernel".utf8).write(to: image.appendingPathComponent("linux"))
        try Data("initrd".utf8).write(to: image.appendingPathComponent("initrd.gz"))
        try Data("""
        {"distribution": "debian", "release": "12", "architecture": "amd64", "kernel": "linux", "initrd": "initrd.gz",
         "files": {}, "verified_against_sha256sums": false}
        """.utf8).write(to: image.appendingPathComponent("image.json"))
    }
}

/// A network namespace for the daemon (10.99.0.1 on its eth0) and an images folder with a
/// test image; `remove()` deletes both.
public struct DaemonWorkspace {
    public let ns: NetworkNamespace
    public let work: URL
    public var images: URL { work.appendingPathComponent("images") }

    public init(prefix: String) throws {
        ns = try NetworkNamespace(prefix: prefix)
        work = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.name)-work")
        do { try TestImages.create(in: work.appendingPathComponent("images")) } catch { ns.remove(); throw error }
    }

    public func remove() {
        try? FileManager.default.removeItem(at: work)
        ns.remove()
    }
}

extension NetworkNamespace {
    /// The real daemon's `serve` in this namespace, as the tests run it: on eth0, with the
    /// test's images and state folders, its events as log lines (never into the host's
    /// journal), bound as `user`; `extra` adds or overrides options. `launcher` runs it
    /// (a tracer's command line, the daemon's then appended); the returned process is then
    /// the launcher's.
    public func spawnDaemon(config: String = Repo.path("config/garage-pxe.yaml"), images: URL, state: URL,
                            tftpRoot: String = "/usr/lib/ipxe", user: String = "nobody", extra: [String] = [],
                            launcher: [String] = [], environment: [String: String] = [:], output: URL) throws -> Process {
        try spawn(launcher + [Repo.binary, "serve", "--config", config, "--interface", "eth0", "--tftp-root", tftpRoot,
                   "--images", images.path, "--http-port", "8080", "--user", user,
                   "--events", "log", "--state", state.path] + extra,
                  environment: environment, output: output)
    }
}
