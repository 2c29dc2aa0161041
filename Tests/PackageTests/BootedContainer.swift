// A Debian 12 system booted by systemd-nspawn, its systemd as PID 1, for tests that must
// see the package as the workshop runs it: installed by apt, started by systemctl. Its
// network is a namespace the test creates, so nothing it serves touches the host's LAN.
// Test-only code.

import Foundation
import TestSupport

/// The Debian package `make deb` builds (scripts/build-deb.sh): build/garage-pxe_VERSION_amd64.deb,
/// VERSION from the first line of packaging/debian/changelog; $GARAGE_PXE_DEB overrides it.
enum BuiltPackage {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["GARAGE_PXE_DEB"] { return path }
        let changelog = (try? String(contentsOfFile: Repo.path("packaging/debian/changelog"), encoding: .utf8)) ?? ""
        let first = changelog.split(separator: "\n").first.map(String.init) ?? ""
        let version = first.split(separator: "(").dropFirst().first?.split(separator: ")").first.map(String.init) ?? "?"
        return Repo.path("build/garage-pxe_\(version)_amd64.deb")
    }
}

struct ContainerFailed: Error, CustomStringConvertible {
    var description: String
}

/// One boot of the cached root (scripts/systemd-container/root.sh) through an overlay, so
/// every run starts from the same clean system and the cache is never written to.
final class BootedContainer: @unchecked Sendable {
    let run: URL
    let merged: URL
    let machine: String
    let nspawn: Process
    /// The container's systemd, as the host sees its PID: what nsenter enters.
    private(set) var initPID: Int32 = 0
    /// Seconds from starting systemd-nspawn to `systemctl is-system-running` answering.
    private(set) var bootSeconds: Double = 0
    private var mounted = false

    /// Boots `root` with the network of `netns` (a namespace under /run/netns) and the
    /// host folders `binds` (host path → container path) read-only. `beforeBoot`, a shell
    /// script, runs first in the same root (not booted) with the host's network: the only
    /// moment the container may reach the Debian archive.
    init(root: String, netns: String, binds: [(String, String)], beforeBoot: String? = nil) throws {
        machine = "gpxct\(getpid())x\(UInt16.random(in: 0...UInt16.max))"
        run = URL(fileURLWithPath: "/var/tmp/\(machine)")
        merged = run.appendingPathComponent("merged")
        let fm = FileManager.default
        for sub in ["upper", "work", "merged"] {
            try fm.createDirectory(at: run.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try TestSupport.run("/usr/bin/mount", ["-t", "overlay", "overlay", "-o",
            "lowerdir=\(root),upperdir=\(run.path)/upper,workdir=\(run.path)/work", merged.path])
        mounted = true
        let bindArguments = binds.map { "--bind-ro=\($0.0):\($0.1)" }
        if let beforeBoot {
            let prepared = try runProcess("/usr/bin/systemd-nspawn", ["--register=no", "--keep-unit", "--quiet", "--directory=\(merged.path)",
                                                                       "--machine=\(machine)", "--resolv-conf=copy-host"]
                                          + bindArguments + ["/bin/sh", "-c", beforeBoot], limit: 900)
            guard prepared.status == 0 else {
                _ = try? runProcess("/usr/bin/umount", [merged.path])
                try? fm.removeItem(at: run)
                throw ContainerFailed(description: "before boot: exit \(prepared.status):\n\(prepared.output)")
            }
        }
        let log = run.appendingPathComponent("console.log")
        _ = fm.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        nspawn = Process()
        nspawn.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-nspawn")
        // --register=no --keep-unit: the host has no systemd to register with (lab notes).
        // --console=pipe: no terminal here; the boot messages go to console.log.
        nspawn.arguments = ["--register=no", "--keep-unit", "--quiet", "--boot", "--directory=\(merged.path)",
                            "--machine=\(machine)", "--network-namespace-path=/run/netns/\(netns)", "--console=pipe"]
            + bindArguments
        nspawn.standardInput = FileHandle.nullDevice
        nspawn.standardOutput = handle
        nspawn.standardError = handle
        let started = Date()
        do {
            try nspawn.run()
            try waitForBoot(started: started)
        } catch {
            shutdown()
            throw error
        }
    }

    private func waitForBoot(started: Date) throws {
        // nspawn's child in the new PID namespace execs systemd: the host sees it as
        // nspawn's child process named systemd.
        let found = waitUntil(120) {
            guard self.nspawn.isRunning else { return true }
            self.initPID = Self.children(of: self.nspawn.processIdentifier).first { Self.command(of: $0) == "systemd" } ?? 0
            return self.initPID != 0
        }
        guard found, initPID != 0 else { throw ContainerFailed(description: "the container's systemd never started:\n\(console)") }
        // Until systemd has set up its private bus, systemctl cannot connect at all, or
        // answers "offline" (PID 1 not yet a manager it can ask).
        var state = ""
        _ = waitUntil(180) {
            state = (try? self.exec(["systemctl", "is-system-running", "--wait"], limit: 180).output) ?? ""
            if state.contains("Failed to connect to bus") || state.hasPrefix("offline") { usleep(100_000); return false }
            return true
        }
        bootSeconds = Date().timeIntervalSince(started)
        guard state.trimmingCharacters(in: .whitespacesAndNewlines) == "running" else {
            let failed = (try? exec(["systemctl", "--failed", "--no-pager"]).output) ?? ""
            throw ContainerFailed(description: "the container booted to '\(state)', not 'running':\n\(failed)\n\(console)")
        }
    }

    var console: String { (try? String(contentsOf: run.appendingPathComponent("console.log"), encoding: .utf8)) ?? "" }

    /// Runs a command inside the container, in all its namespaces, as root.
    func exec(_ arguments: [String], limit: Double = 60) throws -> ProcessResult {
        try runProcess("/usr/bin/nsenter", ["--target", "\(initPID)", "--all", "--"] + arguments, limit: limit,
                       environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"])
    }

    /// A shell script inside the container (`sh -c`), as an admin would type it.
    func shell(_ script: String, limit: Double = 60) throws -> ProcessResult {
        try exec(["/bin/sh", "-c", script], limit: limit)
    }

    /// Powers the container off (SIGTERM asks nspawn for an orderly halt), bounded, then
    /// unmounts the overlay and deletes this run's folder.
    func shutdown() {
        stop(nspawn, signal: SIGTERM, within: 60)
        if mounted {
            _ = try? runProcess("/usr/bin/umount", [merged.path])
            mounted = false
        }
        // nspawn's mount-propagation folder for this machine, left on the host.
        _ = rmdir("/run/systemd/nspawn/propagate/\(machine)")
        try? FileManager.default.removeItem(at: run)
    }

    static func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { candidate in
            // /proc/PID/stat: "PID (comm) STATE PPID ..."; comm may hold spaces, so split after ')'.
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    static func command(of pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
