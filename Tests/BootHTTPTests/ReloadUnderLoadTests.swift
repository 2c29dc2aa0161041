import Foundation
import Testing
import TestSupport

/// The real daemon in its own network namespace, reloaded while it serves: 32 TFTP and 16
/// HTTP downloads (curl, rate-limited so they span the reloads) run while it gets SIGHUP
/// with a broken menu, then with a good one. Every download must finish whole.
@Suite("running daemon: reloads under load", .serialized,
       .enabled(if: getuid() == 0, "needs root: the daemon runs in a network namespace of its own"))
struct ReloadUnderLoadTests {
    typealias D = DaemonReloadTests
    /// Served over TFTP from the daemon's TFTP root (/usr/lib/ipxe): 2 MiB.
    static let tftpSource = "/usr/lib/ipxe/ipxe.iso"
    static var tftpSize: Int { ((try? FileManager.default.attributesOfItem(atPath: tftpSource))?[.size] as? Int) ?? 0 }
    static let httpBytes = 16 * 1024 * 1024 + 11

    /// The daemon's folder with `bytes` of pattern as images/debian-13-amd64/load.bin.
    static func prepare(httpBytes: Int) throws -> (setup: D.Setup, payload: Data, served: URL) {
        let setup = try D.Setup()
        let payload = RunningBootServer.pattern(httpBytes)
        let served = setup.dir.appendingPathComponent("images/debian-13-amd64/load.bin")
        try payload.write(to: served)
        try #require(FileManager.default.fileExists(atPath: tftpSource), "ipxe package missing (scripts/install-deps.sh test)")
        return (setup, payload, served)
    }

    @Test("SIGHUP with a broken then a valid menu during 32 TFTP and 16 HTTP transfers: zero failed, every byte right")
    func sighupUnderLoad() async throws {
        let (setup, _, served) = try Self.prepare(httpBytes: Self.httpBytes)
        defer { setup.remove() }
        let tftpSource = Self.tftpSource
        try await D.withRunningDaemon(setup) { ns, daemon in
            let out = setup.dir.appendingPathComponent("downloads")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            func curl(_ url: String, _ file: String) async throws -> Int32 {
                try await runWithoutBlocking("/usr/sbin/ip", ["netns", "exec", ns.name, "/usr/bin/curl", "-s", "-f", "--max-time", "600",
                                                              "--limit-rate", "400K", "-o", out.appendingPathComponent(file).path, url])
            }
            /// Some download has started and not finished: the reload happens under load.
            @Sendable func inFlight() -> Bool {
                (0..<32).map { ("tftp-\($0)", Self.tftpSize) }.contains { isPartWay(out.appendingPathComponent($0.0), of: $0.1) }
                    || (0..<16).contains { isPartWay(out.appendingPathComponent("http-\($0)"), of: Self.httpBytes) }
            }
            let reloads = Task {
                // While the downloads run: a broken menu (refused), then a good one (taken).
                let underLoad = await D.eventually(120) { inFlight() }
                let good = try String(contentsOf: setup.menuFile, encoding: .utf8)
                try good.replacingOccurrences(of: "timeout: 15", with: "timeout: 15\ncolour: blue").write(to: setup.menuFile, atomically: true, encoding: .utf8)
                kill(daemon.processIdentifier, SIGHUP)
                let refused = await D.eventually(60) { setup.logText().contains("menus reload refused") }
                try good.replacingOccurrences(of: "title: \"Atelier Garage - installation réseau\"", with: "title: \"Atelier sous charge\"")
                    .write(to: setup.menuFile, atomically: true, encoding: .utf8)
                kill(daemon.processIdentifier, SIGHUP)
                let taken = await D.eventually(60) { setup.logText().contains("menus reloaded") }
                return (underLoad, refused, taken)
            }
            let statuses = try await withThrowingTaskGroup(of: (String, Int32).self) { group in
                for i in 0..<32 {
                    group.addTask { ("tftp-\(i)", try await curl("tftp://\(ns.address)/ipxe.iso", "tftp-\(i)")) }
                }
                for i in 0..<16 {
                    group.addTask { ("http-\(i)", try await curl("http://\(ns.address):\(setup.port)/images/debian-13-amd64/load.bin", "http-\(i)")) }
                }
                var all: [String: Int32] = [:]
                for try await (name, status) in group { all[name] = status }
                return all
            }
            let (underLoad, refused, taken) = try await reloads.value
            #expect(underLoad, "no download was seen in flight before the first SIGHUP")
            #expect(refused, "the broken menu was not refused:\n\(setup.logText())")
            #expect(taken, "the good menu was not taken:\n\(setup.logText())")
            #expect(statuses.count == 48)
            #expect(statuses.filter { $0.value != 0 }.isEmpty, "failed: \(statuses.filter { $0.value != 0 })")
            for (name, _) in statuses {
                let source = name.hasPrefix("tftp") ? tftpSource : served.path
                #expect(FileManager.default.contentsEqual(atPath: out.appendingPathComponent(name).path, andPath: source), "\(name) differs")
            }
            #expect(daemon.isRunning)
            let url = "http://127.0.0.1:\(setup.port)/boot.ipxe?mac=52:54:00:12:34:56&platform=efi"
            #expect(try await D.get(ns, url, into: setup.dir.appendingPathComponent("menu"))?.contains("menu Atelier sous charge") == true)
        }
    }

    @Test("kill -9 of the daemon mid-transfer, then a restart: the clients' retries complete, every byte right")
    func killNineThenRestart() async throws {
        let (setup, payload, served) = try Self.prepare(httpBytes: 16 * 1024 * 1024 + 11)
        defer { setup.remove() }
        let tftpSource = Self.tftpSource
        let ns = try NetworkNamespace(prefix: "gpxkill")
        defer { ns.remove() }
        let arguments = [Repo.binary, "serve", "--config", setup.config.path, "--user", "root", "--interface", "eth0", "--address", ns.address, "--log-level", "info",
                         "--events", "log", "--state", setup.dir.appendingPathComponent("state").path]
        let first = try ns.spawn(arguments, output: setup.log)
        defer { stop(first) }
        try #require(await D.eventually(120) { setup.logText().contains("garage-pxe started") }, "daemon did not start:\n\(setup.logText())")
        let out = setup.dir.appendingPathComponent("downloads")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // What a boot ROM does after a dead server: ask again. HTTP resumes where it stopped.
        func curl(_ url: String, _ file: String, resume: Bool) async throws -> Int32 {
            try await runWithoutBlocking("/usr/sbin/ip", ["netns", "exec", ns.name, "/usr/bin/curl", "-s", "-f", "--max-time", "600",
                                                          // A TFTP transfer whose server died only stalls: no byte
                                                          // for 30 s ends the attempt (curl's own TFTP timeout is
                                                          // --max-time). Retries are bounded by time, not by count:
                                                          // the restart may take long on a loaded machine.
                                                          "--speed-limit", "1", "--speed-time", "30",
                                                          "--retry", "1000", "--retry-delay", "1", "--retry-max-time", "900",
                                                          "--retry-all-errors",
                                                          "--retry-connrefused"] + (resume ? ["-C", "-"] : [])
                                                          + ["-o", out.appendingPathComponent(file).path, url])
        }
        let downloads = Task {
            try await withThrowingTaskGroup(of: (String, Int32).self) { group in
                for i in 0..<8 { group.addTask { ("tftp-\(i)", try await curl("tftp://\(ns.address)/ipxe.iso", "tftp-\(i)", resume: false)) } }
                for i in 0..<8 {
                    group.addTask { ("http-\(i)", try await curl("http://\(ns.address):\(setup.port)/images/debian-13-amd64/load.bin", "http-\(i)", resume: true)) }
                }
                var all: [String: Int32] = [:]
                for try await (name, status) in group { all[name] = status }
                return all
            }
        }
        // Killed once some download is part-way: it can only finish against the next daemon.
        func partWay() -> Bool {
            (0..<8).contains { isPartWay(out.appendingPathComponent("tftp-\($0)"), of: Self.tftpSize) }
                || (0..<8).contains { isPartWay(out.appendingPathComponent("http-\($0)"), of: payload.count) }
        }
        let caught = await D.eventually(120) { partWay() }
        try #require(caught, "no download was seen part-way")
        kill(first.processIdentifier, SIGKILL)
        try #require(await D.eventually(60) { !first.isRunning })
        let secondLog = setup.dir.appendingPathComponent("daemon-2.log")
        let second = try ns.spawn(arguments, output: secondLog)
        defer { stop(second) }
        let restarted = await D.eventually(120) { ((try? String(contentsOf: secondLog, encoding: .utf8)) ?? "").contains("garage-pxe started") }
        #expect(restarted, "the daemon did not restart")
        let statuses = try await downloads.value
        #expect(statuses.count == 16)
        #expect(statuses.filter { $0.value != 0 }.isEmpty, "failed: \(statuses.filter { $0.value != 0 })")
        for (name, _) in statuses {
            let source = name.hasPrefix("tftp") ? tftpSource : served.path
            #expect(FileManager.default.contentsEqual(atPath: out.appendingPathComponent(name).path, andPath: source), "\(name) differs")
        }
    }
}

/// A download file that exists with some but not all of its bytes.
func isPartWay(_ file: URL, of full: Int) -> Bool {
    let size = ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int) ?? 0
    return size > 0 && size < full
}
