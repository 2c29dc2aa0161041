import Foundation
import Testing
import TestSupport

/// The daemon as systemd sees it: the unit file checked by systemd's own tools, the
/// sd_notify protocol observed on a socket the test owns, and the privilege drop read
/// from /proc. The daemon runs inside a network namespace the test creates.
@Suite("systemd service", .serialized)
struct SystemdServiceTests {
    static let unit = Repo.path("systemd/garage-pxe.service")

    @Test("systemd-analyze security rates the unit 2.0 or lower")
    func securityExposure() throws {
        let out = try run("/usr/bin/systemd-analyze", ["security", "--offline=yes", Self.unit]).output
        let line = try #require(out.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let number = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        #expect(number <= 2.0, "\(line)")
    }

    @Test("systemd-analyze verify accepts the unit (with the built binary in place of /usr/bin)")
    func verify() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-unit-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/garage-pxe", with: Repo.binary)
        let copy = dir.appendingPathComponent("garage-pxe.service")
        try text.write(to: copy, atomically: true, encoding: .utf8)
        let result = try run("/usr/bin/systemd-analyze", ["verify", "--man=no", copy.path], allowFailure: true)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("the sysusers snippet creates the garage-pxe system user (in a scratch root)")
    func sysusers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-sysroot-\(getpid())")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try run("/usr/bin/systemd-sysusers", ["--root=\(root.path)", Repo.path("systemd/garage-pxe.sysusers")])
        let passwd = try String(contentsOfFile: root.appendingPathComponent("etc/passwd").path, encoding: .utf8)
        let entry = try #require(passwd.split(separator: "\n").first { $0.hasPrefix("garage-pxe:") })
        let uid = try #require(Int(entry.split(separator: ":")[2]))
        #expect(uid > 0 && uid < 1000, "a system user: \(entry)")
        #expect(entry.hasSuffix("/usr/sbin/nologin"))
    }

    /// One test's network namespace, notify socket, daemon log and daemon; `remove()` stops
    /// the daemon and deletes the rest.
    final class Bench {
        let ns: NetworkNamespace
        let notify: NotifySocket
        let log: URL
        private var daemon: Process?
        private var images: URL { log.deletingPathExtension().appendingPathExtension("images") }

        init(prefix: String) throws {
            ns = try NetworkNamespace(prefix: prefix)
            do { notify = try NotifySocket() } catch { ns.remove(); throw error }
            log = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.name).log")
        }

        /// The daemon in the namespace, telling the notify socket, bound as `user`.
        func startDaemon(user: String = "nobody", environment: [String: String] = [:]) throws -> Process {
            try TestImages.create(in: images)
            let started = try ns.spawnDaemon(images: images, state: images.appendingPathExtension("state"), user: user,
                                             environment: environment.merging(["NOTIFY_SOCKET": notify.path]) { $1 }, output: log)
            daemon = started
            return started
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func remove() {
            if let daemon { stop(daemon) }
            try? FileManager.default.removeItem(at: log)
            try? FileManager.default.removeItem(at: images)
            try? FileManager.default.removeItem(at: images.appendingPathExtension("state"))
            ns.remove()
        }
    }

    @Test("READY once bound, then WATCHDOG pings, RELOADING/READY around SIGHUP, STOPPING on SIGTERM")
    func notifyProtocol() throws {
        let bench = try Bench(prefix: "gpxsd")
        defer { bench.remove() }
        let daemon = try bench.startDaemon(environment: ["WATCHDOG_USEC": "200000"])

        let startup = bench.notify.messages(until: { $0.contains("READY=1") }, within: 60)
        let ready = try #require(startup.last, "no READY=1; log:\n\(bench.logText)")
        #expect(ready.contains("READY=1"))
        #expect(ready.contains("STATUS=proxyDHCP on eth0 10.99.0.1"))
        #expect(!startup.dropLast().contains { $0.contains("WATCHDOG=1") }, "no watchdog ping before READY")

        // WATCHDOG_USEC=200 ms: pings every 100 ms. Three in a row show the daemon pings on
        // its own; waiting for them (not counting a fixed window) lets a loaded machine be slow.
        var pings = 0
        let afterReady = bench.notify.messages(until: { message in
            if message == "WATCHDOG=1" { pings += 1 }
            return pings >= 3
        }, within: 60)
        #expect(pings >= 3, "\(pings) watchdog pings in 60 s: \(afterReady)")

        kill(daemon.processIdentifier, SIGHUP)
        let reload = bench.notify.messages(until: { $0.contains("READY=1") }, within: 60).filter { $0 != "WATCHDOG=1" }
        #expect(reload.count == 2, "\(reload)")
        #expect(reload.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true)
        #expect(reload.last?.contains("READY=1") == true)

        kill(daemon.processIdentifier, SIGTERM)
        let stopping = bench.notify.messages(until: { $0.contains("STOPPING=1") }, within: 60)
        #expect(stopping.last == "STOPPING=1")
        #expect(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus == 0)
    }

    @Test("a daemon that cannot bind its port sends no READY and exits non-zero, saying why")
    func bindFailure() throws {
        let bench = try Bench(prefix: "gpxbf")
        defer { bench.remove() }
        let (ns, log) = (bench.ns, bench.log)
        // Another PXE server holds :4011 without SO_REUSEADDR.
        let holder = try ns.spawn(["/usr/bin/python3", "-c",
            "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',4011)); print('bound',flush=True); time.sleep(600)"],
            output: log.appendingPathExtension("holder"))
        defer { stop(holder) }
        #expect(waitUntil(60) { ((try? String(contentsOf: log.appendingPathExtension("holder"), encoding: .utf8)) ?? "").contains("bound") })

        let daemon = try bench.startDaemon()
        #expect(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus != 0)
        #expect(bench.notify.receive(within: 0.5) == nil, "nothing, READY above all, was sent")
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(output.contains("cannot listen for PXE clients on eth0"), "\(output)")
        #expect(output.contains("4011"))
    }

    @Test("started as root it binds as the configured user (only CAP_NET_BIND_SERVICE), then runs with no capabilities")
    func privilegeDrop() throws {
        let bench = try Bench(prefix: "gpxpd")
        defer { bench.remove() }
        let daemon = try bench.startDaemon()
        _ = bench.notify.messages(until: { $0.contains("READY=1") }, within: 60)
        let status = try String(contentsOfFile: "/proc/\(daemon.processIdentifier)/status", encoding: .utf8)
        func field(_ name: String) -> String {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        #expect(field("Name") == "garage-pxe")
        let nobody = "65534"
        // Real, effective, saved and file-system ids (getresuid's three and fsuid): all nobody's.
        #expect(field("Uid").split(separator: "\t") == [Substring](repeating: Substring(nobody), count: 4), "Uid: \(field("Uid"))")
        #expect(field("Gid").split(separator: "\t") == [Substring](repeating: Substring(nobody), count: 4), "Gid: \(field("Gid"))")
        // Only systemd-journal, as the unit's SupplementaryGroups= gives it (to read its own
        // events back); none of root's groups.
        let journalGroup = getgrnam("systemd-journal").map { String($0.pointee.gr_gid) }
        #expect(field("Groups").split(separator: " ").map(String.init) == (journalGroup.map { [$0] } ?? []), "Groups: \(field("Groups"))")
        for caps in ["CapEff", "CapPrm", "CapAmb"] {
            #expect(field(caps) == "0000000000000000", "\(caps): \(field(caps))")
        }
        // Every thread, not only the first (/proc/PID/status is the leader's): real,
        // effective, saved and file-system ids all nobody's, no capability left. A thread
        // keeping a saved uid of 0 could take root back.
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.processIdentifier)/task")
        #expect(tasks.count > 4, "the services' threads are there: \(tasks)")
        for task in tasks {
            guard let taskStatus = try? String(contentsOfFile: "/proc/\(daemon.processIdentifier)/task/\(task)/status", encoding: .utf8) else { continue }
            func taskField(_ name: String) -> [Substring] {
                taskStatus.split(separator: "\n").first { $0.hasPrefix(name + ":") }?.dropFirst(name.count + 1)
                    .split(whereSeparator: { $0 == "\t" || $0 == " " }) ?? []
            }
            #expect(taskField("Uid").count == 4 && taskField("Uid").allSatisfy { $0 == nobody }, "thread \(task) Uid: \(taskField("Uid"))")
            #expect(taskField("Gid").count == 4 && taskField("Gid").allSatisfy { $0 == nobody }, "thread \(task) Gid: \(taskField("Gid"))")
            for caps in ["CapEff", "CapPrm", "CapAmb"] {
                #expect(taskField(caps) == ["0000000000000000"], "thread \(task) \(caps): \(taskField(caps))")
            }
        }
        // Nothing was bound with root's ids: every socket it listens on (DHCP 67, PXE 4011,
        // TFTP 69 below 1024, HTTP) belongs to nobody, as under the unit (ss omits uid 0).
        let sockets = try run("/usr/sbin/ip", ["netns", "exec", bench.ns.name, "ss", "-Hlnpe"]).output
            .split(separator: "\n").filter { $0.contains("garage-pxe") }
        for port in [":67 ", ":69 ", ":4011 ", ":8080 "] {
            #expect(sockets.contains { $0.contains(port) }, "no listener on \(port): \(sockets)")
        }
        #expect(sockets.allSatisfy { $0.contains("uid:\(nobody)") }, "sockets not bound as nobody: \(sockets)")
        // And it still answers.
        #expect(daemon.isRunning)
        let output = bench.logText
        #expect(output.contains("user=nobody"), "\(output)")
    }

    @Test("a configured user that does not exist stops the start, saying how to create it; no READY")
    func missingUser() throws {
        let bench = try Bench(prefix: "gpxmu")
        defer { bench.remove() }
        let daemon = try bench.startDaemon(user: "garage-pxe-absent")
        #expect(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus != 0)
        #expect(bench.notify.receive(within: 0.5) == nil, "no READY")
        let output = bench.logText
        #expect(output.contains("user 'garage-pxe-absent' does not exist"), "\(output)")
        #expect(output.contains("adduser --system --group --no-create-home --home /nonexistent garage-pxe-absent"), "\(output)")
    }

    @Test("user: root is accepted, with a warning, and keeps root")
    func explicitRoot() throws {
        let bench = try Bench(prefix: "gpxur")
        defer { bench.remove() }
        let daemon = try bench.startDaemon(user: "root")
        let ready = bench.notify.messages(until: { $0.contains("READY=1") }, within: 60)
        #expect(ready.last?.contains("READY=1") == true)
        let status = try String(contentsOfFile: "/proc/\(daemon.processIdentifier)/status", encoding: .utf8)
        #expect(status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().allSatisfy { $0 == "0" } == true)
        let output = bench.logText
        #expect(output.contains("'user: root' in the configuration: the daemon runs as root"), "\(output)")
        #expect(output.contains("user=root"), "\(output)")
    }
}

/// The shipped configuration with a stop grace of 600 s instead of 15, written in `dir`.
func longGraceConfig(in dir: URL) throws -> URL {
    let shipped = try String(contentsOfFile: Repo.path("config/garage-pxe.yaml"), encoding: .utf8)
    try #require(shipped.contains("stop_grace_seconds: 15"))
    let config = dir.appendingPathComponent("garage-pxe.yaml")
    try shipped.replacingOccurrences(of: "stop_grace_seconds: 15", with: "stop_grace_seconds: 600")
        .write(to: config, atomically: true, encoding: .utf8)
    return config
}

/// SIGTERM while a PC is fetching its loader: the daemon stops answering new clients but
/// lets the running transfer finish, then exits cleanly.
@Suite("graceful stop")
struct GracefulStopTests {
    @Test("a TFTP transfer running at SIGTERM completes with identical bytes; the daemon then exits 0")
    func tftpTransferFinishes() throws {
        let ns = try NetworkNamespace(prefix: "gpxgs")
        defer { ns.remove() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.name)")
        let root = dir.appendingPathComponent("tftp")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for loader in ["undionly.kpxe", "ipxe.efi", "snponly.efi"] {
            try Data(contentsOf: URL(fileURLWithPath: "/usr/lib/ipxe/\(loader)")).write(to: root.appendingPathComponent(loader))
        }
        let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
        let big = try random.read(upToCount: 40 << 20) ?? Data()
        try random.close()
        try big.write(to: root.appendingPathComponent("big.bin"))
        try TestImages.create(in: dir.appendingPathComponent("images"))

        // The shipped grace (15 s) is ample for a PC's loader, not for 40 MiB lockstep on a
        // loaded test machine: what is tested is that the running transfer completes, not how fast.
        let config = try longGraceConfig(in: dir)
        let log = dir.appendingPathComponent("daemon.log")
        let notify = try NotifySocket()
        let daemon = try ns.spawnDaemon(config: config.path, images: dir.appendingPathComponent("images"), state: dir.appendingPathComponent("state"),
                                        tftpRoot: root.path, extra: ["--menus", Repo.path("pxe-menus")],
                                        environment: ["NOTIFY_SOCKET": notify.path], output: log)
        defer { stop(daemon) }
        #expect(notify.messages(until: { $0.contains("READY=1") }, within: 60).last?.contains("READY=1") == true)

        let output = dir.appendingPathComponent("big.out")
        let client = try ns.spawn(["/usr/bin/tftp", ns.address, "-m", "binary", "-c", "get", "big.bin", output.path],
                                  output: dir.appendingPathComponent("client.log"))
        defer { stop(client) }
        #expect(waitUntil(60) { ((try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0) > 0 })
        kill(daemon.processIdentifier, SIGTERM)

        #expect(waitUntil(600) { !client.isRunning })
        #expect(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus == 0)
        #expect(try Data(contentsOf: output) == big, "the transfer running at SIGTERM completed intact")
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("tftp_transfers_running=1"), "the transfer was running when the stop began:\n\(text)")
        #expect(text.contains("tftp_transfers_finished=1"))
        #expect(text.contains("tftp_transfers_abandoned=0"))
    }
}

/// SIGTERM while a PC is downloading its initrd over HTTP, and a start that fails half-way.
@Suite("graceful stop over HTTP, failed start")
struct HTTPStopTests {
    /// `ip netns exec NS curl …`: a client on the bench LAN's side.
    func curl(in ns: NetworkNamespace, _ arguments: [String], limit: Double = 60) throws -> ProcessResult {
        try runProcess("/usr/sbin/ip", ["netns", "exec", ns.name, "/usr/bin/curl"] + arguments, limit: limit)
    }

    /// A daemon in a namespace of its own serving a 48 MiB image file (more than the
    /// kernel's socket buffers hold, so the server is still sending while the client reads
    /// slowly), with a long grace; `remove()` stops it and deletes its namespace and folder.
    final class BigFileDaemon {
        let ns: NetworkNamespace
        let dir: URL
        let notify: NotifySocket
        let big: Data
        let log: URL
        private(set) var daemon: Process?

        init(prefix: String) throws {
            let ns = try NetworkNamespace(prefix: prefix)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.name)")
            self.ns = ns
            self.dir = dir
            log = dir.appendingPathComponent("daemon.log")
            do {
                notify = try NotifySocket()
                let images = dir.appendingPathComponent("images")
                try TestImages.create(in: images)
                let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
                big = try random.read(upToCount: 48 << 20) ?? Data()
                try random.close()
                try big.write(to: images.appendingPathComponent("debian-13-amd64/big.bin"))
            } catch {
                try? FileManager.default.removeItem(at: dir)
                ns.remove()
                throw error
            }
            do {
                // A long grace: what is tested is that the running download completes, not how fast.
                let config = try longGraceConfig(in: dir)
                daemon = try ns.spawnDaemon(config: config.path, images: dir.appendingPathComponent("images"),
                                            state: dir.appendingPathComponent("state"), extra: ["--menus", Repo.path("pxe-menus")],
                                            environment: ["NOTIFY_SOCKET": notify.path], output: log)
                try #require(notify.messages(until: { $0.contains("READY=1") }, within: 60).last?.contains("READY=1") == true)
            } catch {
                remove()
                throw error
            }
        }

        func remove() {
            if let daemon { stop(daemon) }
            try? FileManager.default.removeItem(at: dir)
            ns.remove()
        }
    }

    /// curl in `ns` downloading the big file at `rate`, once its first bytes have arrived.
    func beginDownload(in ns: NetworkNamespace, dir: URL, rate: String) throws -> (client: Process, output: URL) {
        let output = dir.appendingPathComponent("big.out")
        let client = try ns.spawn(["/usr/bin/curl", "-sS", "--limit-rate", rate, "-o", output.path,
                                   "http://\(ns.address):8080/images/debian-13-amd64/big.bin"],
                                  output: dir.appendingPathComponent("client.log"))
        #expect(waitUntil(60) { ((try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0) > 0 })
        return (client, output)
    }

    @Test("an HTTP download running at SIGTERM completes with identical bytes, a new connection is refused, the daemon exits 0")
    func httpDownloadFinishes() throws {
        let served = try BigFileDaemon(prefix: "gpxhs")
        defer { served.remove() }
        let (ns, dir, notify, big, log) = (served.ns, served.dir, served.notify, served.big, served.log)
        let daemon = try #require(served.daemon)
        let url = "http://\(ns.address):8080"
        #expect(try curl(in: ns, ["-sS", "-o", "/dev/null", "\(url)/boot.ipxe"]).status == 0, "the server answers before the stop")

        // 48 MiB at 1 MiB/s: the download is surely running through the stop.
        let (client, output) = try beginDownload(in: ns, dir: dir, rate: "1M")
        defer { stop(client) }
        kill(daemon.processIdentifier, SIGTERM)
        #expect(notify.messages(until: { $0.contains("STOPPING=1") }, within: 60).last == "STOPPING=1")

        // A new client is refused (connection refused: curl's exit 7) while the download goes on.
        var refused: ProcessResult?
        _ = waitUntil(60) {
            let attempt = try? curl(in: ns, ["-sS", "--max-time", "5", "-o", "/dev/null", "\(url)/boot.ipxe"])
            if attempt?.status == 7 { refused = attempt }
            return refused != nil
        }
        #expect(refused != nil, "a connection made after SIGTERM was not refused")
        #expect(client.isRunning, "the download was still running when the new connection was refused")

        try #require(waitUntil(600) { !client.isRunning })
        let clientLog = (try? String(contentsOf: dir.appendingPathComponent("client.log"), encoding: .utf8)) ?? ""
        #expect(client.terminationStatus == 0, "\(clientLog)")
        try #require(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus == 0)
        #expect(try Data(contentsOf: output) == big, "the download running at SIGTERM completed intact")
        let text = try String(contentsOf: log, encoding: .utf8)
        // The server was still sending when the stop began: it waited for the download.
        let stopping = try #require(text.range(of: "garage-pxe stopping"), "\(text)")
        let sent = try #require(text.range(of: "image.sent bytes=\(big.count)"), "\(text)")
        #expect(stopping.lowerBound < sent.lowerBound, "the download ended after the stop began:\n\(text)")
        #expect(text.contains("garage-pxe stopped"), "\(text)")
    }

    @Test("a second SIGTERM during the stop cuts the download still running; the daemon exits 0")
    func secondSignalCuts() throws {
        let served = try BigFileDaemon(prefix: "gpxss")
        defer { served.remove() }
        let (ns, dir, notify, big, log) = (served.ns, served.dir, served.notify, served.big, served.log)
        let daemon = try #require(served.daemon)
        // 48 MiB at 256 KiB/s: minutes, far longer than the test waits for the daemon.
        let (client, output) = try beginDownload(in: ns, dir: dir, rate: "256K")
        defer { stop(client) }
        kill(daemon.processIdentifier, SIGTERM)
        #expect(notify.messages(until: { $0.contains("STOPPING=1") }, within: 60).last == "STOPPING=1")
        kill(daemon.processIdentifier, SIGTERM)
        try #require(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus == 0)
        let size = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        #expect(size < big.count, "the download was cut, not finished")
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("SIGTERM again during the stop"), "\(text)")
        #expect(text.contains("garage-pxe stopped"), "\(text)")
    }

    @Test("HTTP port already taken: no READY, exit non-zero saying why, the proxyDHCP and TFTP ports free again")
    func failedStartStopsEverything() throws {
        let ns = try NetworkNamespace(prefix: "gpxfs")
        defer { ns.remove() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestImages.create(in: dir.appendingPathComponent("images"))
        // Another web server listens on :8080.
        let holderLog = dir.appendingPathComponent("holder.log")
        let holder = try ns.spawn(["/usr/bin/python3", "-c",
            "import socket,time; s=socket.socket(); s.bind(('0.0.0.0',8080)); s.listen(); print('bound',flush=True); time.sleep(600)"],
            output: holderLog)
        defer { stop(holder) }
        try #require(waitUntil(60) { ((try? String(contentsOf: holderLog, encoding: .utf8)) ?? "").contains("bound") })

        let log = dir.appendingPathComponent("daemon.log")
        let notify = try NotifySocket()
        let daemon = try ns.spawnDaemon(images: dir.appendingPathComponent("images"), state: dir.appendingPathComponent("state"),
                                        environment: ["NOTIFY_SOCKET": notify.path], output: log)
        defer { stop(daemon) }
        try #require(waitUntil(60) { !daemon.isRunning })
        #expect(daemon.terminationStatus != 0)
        #expect(notify.receive(within: 0.5) == nil, "nothing, READY above all, was sent")
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("cannot serve HTTP on 0.0.0.0:8080"), "\(text)")
        #expect(text.contains("every service already started was stopped"), "\(text)")
        // The ports the other services had bound can be bound again (no process left holding them).
        let probe = try runProcess("/usr/sbin/ip", ["netns", "exec", ns.name, "/usr/bin/python3", "-c", """
            import socket
            for port in (67, 4011, 69):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', port)); s.close()
            print('free')
            """])
        #expect(probe.status == 0 && probe.output.contains("free"), "\(probe.output)")
    }
}
