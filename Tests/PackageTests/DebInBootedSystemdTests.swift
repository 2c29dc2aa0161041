import Foundation
import Testing
import TestSupport

/// The built .deb as the workshop runs it (issue 15): installed with apt into a booted
/// Debian 12 whose PID 1 is systemd (systemd-nspawn on a cached debootstrap root), set up
/// as an admin would (interface, TFTP root, an imported netboot image), and driven only
/// through systemctl and journalctl inside the container. The PC is the far end of the
/// container's veth, in a namespace of its own: a real DHCP packet captured from SeaBIOS's
/// iPXE ROM, tftp-hpa, atftp, curl and logger, as the workshop's PCs and installers send.
///
/// Runs after `make deb` (make test's `package-in-systemd` phase); root only.
@Suite("the .deb in a booted systemd", .serialized,
       .enabled(if: getuid() == 0, "needs root: network namespaces, an overlay mount and systemd-nspawn"))
struct DebInBootedSystemdTests {
    static let config = "/etc/garage-pxe/garage-pxe.yaml"

    @Test("apt installs it, systemctl runs it: user and folders, READY and STATUS, DHCP, TFTP with the PC's MAC, refuse_options, installer syslog, reload, watchdog, stop, catalog, security")
    func installedAndRunBySystemd() throws {
        let testStart = Date()
        let deb = BuiltPackage.path
        try #require(FileManager.default.fileExists(atPath: deb), "no \(deb): `make deb` builds it (make test's package phase)")

        let rootStart = Date()
        let prepared = try run("/bin/bash", [Repo.path("scripts/systemd-container/root.sh")], limit: 1800)
        let root = try #require(prepared.output.split(separator: "\n").last.map(String.init))
        let rootSeconds = Date().timeIntervalSince(rootStart)

        // The container's LAN: its eth0 10.99.0.1/24; the PC's pc0 10.99.0.9/24 on the veth's far end.
        let lan = try NetworkNamespace(prefix: "gpxbs")
        defer { lan.remove() }
        let pc = try NetworkNamespace(prefix: "gpxbp", address: "10.98.0.1")
        defer { pc.remove() }
        try lan.plugPC(into: pc)
        let mac = try run("/usr/sbin/ip", ["-n", pc.name, "-br", "link", "show", "pc0"]).output
            .split(separator: " ", omittingEmptySubsequences: true)[2].lowercased()
        try #require(mac.count == 17, "pc0's MAC: \(mac)")

        let debFolder = URL(fileURLWithPath: deb).deletingLastPathComponent().path
        let debName = URL(fileURLWithPath: deb).lastPathComponent
        // The host's iPXE loaders, as files (Debian's ipxe.efi is a symlink into /boot).
        let loaders = FileManager.default.temporaryDirectory.appendingPathComponent("\(lan.name)-ipxe")
        try FileManager.default.createDirectory(at: loaders, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: loaders) }
        for loader in ["undionly.kpxe", "ipxe.efi", "snponly.efi"] {
            try Data(contentsOf: URL(fileURLWithPath: "/usr/lib/ipxe/\(loader)")).write(to: loaders.appendingPathComponent(loader))
        }
        let container = try BootedContainer(root: root, netns: lan.name, binds: [
            (debFolder, "/mnt/deb"), (loaders.path, "/mnt/ipxe"),
            // Debian 13's netboot tree, which `make test` fetched (scripts/fetch-debian13-netboot.sh):
            // the shipped menus install it.
            ("/var/cache/garage-pxe/debian-13-netboot/root/usr/lib/debian-installer/images/13/amd64/text", "/mnt/netboot"),
        ], beforeBoot: """
            apt-get update -qq && apt-get install -y -qq --download-only --no-install-recommends /mnt/deb/\(debName)
            """)
        defer { container.shutdown() }
        func inside(_ script: String, limit: Double = 60) throws -> ProcessResult { try container.shell(script, limit: limit) }
        func journalEntries(_ matches: String) -> [[String: Any]] {
            ((try? inside("journalctl -q --no-pager -o json \(matches)").output) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        func unitLog() -> String { (try? inside("journalctl -q --no-pager -o cat -u garage-pxe.service").output) ?? "" }
        func property(_ name: String) -> String {
            ((try? inside("systemctl show -P \(name) garage-pxe.service").output) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func pcRun(_ arguments: [String], limit: Double = 120) throws -> ProcessResult {
            try runProcess("/usr/sbin/ip", ["netns", "exec", pc.name] + arguments, limit: limit)
        }
        let scratch = container.run.appendingPathComponent("pc")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)

        // Installed by the container's own apt. Its network is the test's namespace, so the
        // dependencies (procps, say, which a minimal Debian lacks) were fetched from the
        // Debian archive into its apt cache before the boot, by the same apt with fresh
        // lists (a cached root's lists go stale at each point release).
        let install = try inside("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /mnt/deb/\(debName)", limit: 600)
        try #require(install.status == 0, "apt-get install:\n\(install.output)")

        // sysusers and tmpfiles ran in the postinst: the user, the state folders.
        let passwd = try inside("getent passwd garage-pxe").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let uid = Int(passwd.split(separator: ":").dropFirst(2).first ?? "") ?? -1
        #expect(uid > 0 && uid < 1000 && passwd.hasSuffix(":/usr/sbin/nologin"), "a system user: \(passwd)")
        let folders = try inside("stat -c '%n %U:%G %a' /var/lib/garage-pxe /var/lib/garage-pxe/images /var/lib/garage-pxe/tftp").output
        #expect(folders == """
            /var/lib/garage-pxe garage-pxe:garage-pxe 750
            /var/lib/garage-pxe/images garage-pxe:garage-pxe 755
            /var/lib/garage-pxe/tftp root:root 755

            """, "\(folders)")
        #expect(property("UnitFileState") == "disabled", "not started before the admin chose an interface")

        // The admin's setup: loaders in the TFTP root, Debian's netboot image, the bench
        // LAN's interface, and a PC whose firmware must not be offered a block size.
        let setup = try inside("""
            set -e
            install -m 0644 /mnt/ipxe/undionly.kpxe /mnt/ipxe/ipxe.efi /mnt/ipxe/snponly.efi /var/lib/garage-pxe/tftp/
            garage-pxe import debian /mnt/netboot --config \(Self.config)
            sed -i -e 's|^  interface: auto$|  interface: eth0|' -e 's|^  root: /usr/lib/ipxe$|  root: /var/lib/garage-pxe/tftp|' \\
                -e 's|^  refuse_options: \\[\\]$|  refuse_options: [{mac: "\(mac)", options: [blksize]}]|' \(Self.config)
            grep -c -e '^  interface: eth0$' -e '^  root: /var/lib/garage-pxe/tftp$' -e 'refuse_options: \\[{mac' \(Self.config)
            garage-pxe check --config \(Self.config)
            """, limit: 300)
        try #require(setup.status == 0 && setup.output.contains("3\n"), "admin setup:\n\(setup.output)")

        // Started by systemd: active (running) only after READY, STATUS in systemctl status.
        let start = try inside("systemctl start garage-pxe", limit: 120)
        try #require(start.status == 0, "systemctl start:\n\(start.output)\n\(unitLog())")
        #expect(property("ActiveState") == "active" && property("SubState") == "running")
        let status = try inside("systemctl status --no-pager --lines=0 garage-pxe").output
        #expect(status.contains("Active: active (running)"), "\(status)")
        #expect(status.contains("Status: \"proxyDHCP on eth0 10.99.0.1:"), "\(status)")
        // User= dropped root before the first packet.
        let mainPID = property("MainPID")
        let ids = try inside("grep -E '^(Uid|Gid):' /proc/\(mainPID)/status").output
        let gid = Int(passwd.split(separator: ":").dropFirst(3).first ?? "") ?? -1
        #expect(ids == "Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nGid:\t\(gid)\t\(gid)\t\(gid)\t\(gid)\n", "\(ids)")

        // A PXE DISCOVER (SeaBIOS's iPXE ROM, as captured) broadcast from the PC gets an offer.
        let dhcp = try pcRun(["/usr/bin/python3", "-c", Self.discover, Repo.path("Tests/Fixtures/dhcp/seabios-ipxe-rom.pcap"), mac])
        #expect(dhcp.status == 0 && dhcp.output.contains("offer from 10.99.0.1 to \(mac.replacingOccurrences(of: ":", with: "")) PXEClient"),
                "\(dhcp.output)")
        #expect(waitUntil(60) { journalEntries("GARAGE_PXE_EVENT=dhcp.offer GARAGE_PXE_MAC=\(mac)").count == 1 }, "\(unitLog())")

        // tftp-hpa fetches the BIOS loader; the event carries the PC's MAC (read by the
        // daemon from the kernel's neighbour table, under the unit's ProcSubset=pid).
        let got = scratch.appendingPathComponent("undionly.kpxe")
        let tftp = try pcRun(["/usr/bin/tftp", "10.99.0.1", "-m", "binary", "-c", "get", "undionly.kpxe", got.path])
        #expect(tftp.status == 0, "\(tftp.output)")
        #expect(try Data(contentsOf: got) == Data(contentsOf: URL(fileURLWithPath: "/usr/lib/ipxe/undionly.kpxe")))
        var sent: [[String: Any]] = []
        #expect(waitUntil(60) { sent = journalEntries("GARAGE_PXE_EVENT=tftp.sent"); return !sent.isEmpty }, "\(unitLog())")
        #expect(sent.first?["GARAGE_PXE_MAC"] as? String == mac, "the tftp.sent event names the PC: \(sent)")
        #expect(sent.first?["GARAGE_PXE_IP"] as? String == "10.99.0.9")
        #expect(sent.first?["_SYSTEMD_UNIT"] as? String == "garage-pxe.service")

        // refuse_options by the PC's MAC: atftp asks for blksize 1024 and gets no OACK.
        func atftp() throws -> String {
            try pcRun(["/usr/bin/atftp", "--option", "blksize 1024", "--trace", "--get", "-r", "undionly.kpxe",
                       "-l", scratch.appendingPathComponent("atftp.out").path, "10.99.0.1"]).output
        }
        let refused = try atftp()
        #expect(!refused.contains("OACK") && refused.contains("DATA <block: 1, size 512>"), "blksize refused for \(mac):\n\(refused)")

        // An open install as the PC makes it (its entry script, asked from its own address,
        // carries the install token; the installer fetches its preseed with it), then an
        // installer syslog line from that PC: it lands in the PC's history.
        let entry = try pcRun(["/usr/bin/curl", "-sS", "-f", "http://10.99.0.1/boot/debian-13-auto.ipxe?mac=\(mac)&platform=pcbios"])
        #expect(entry.status == 0, "\(entry.output)")
        let token = try #require(entry.output.firstMatch(of: /token=([0-9a-f]{32})/)?.1, "no install token in:\n\(entry.output)")
        let preseed = try pcRun(["/usr/bin/curl", "-sS", "-f", "-o", "/dev/null", "http://10.99.0.1/preseed/debian-13-auto.cfg?mac=\(mac)&token=\(token)"])
        #expect(preseed.status == 0, "\(preseed.output)")
        let logger = try pcRun(["/usr/bin/logger", "--udp", "--server", "10.99.0.1", "--port", "514", "-t", "main-menu", "-p", "user.info",
                                "INFO: Menu item 'pkgsel' selected"])
        #expect(logger.status == 0, "\(logger.output)")
        var history = ""
        #expect(waitUntil(60) {
            history = (try? inside("garage-pxe history \(mac)").output) ?? ""
            return history.contains("installer.step")
        }, "history of \(mac):\n\(history)\n\(unitLog())")
        #expect(history.contains("installer.started entry=debian-13-auto"), "\(history)")
        #expect(history.contains("installer.step step=software stage=pkgsel"), "\(history)")

        // systemctl reload with a broken menu: refused with file:line:column, still serving.
        let menu = "/etc/garage-pxe/pxe-menus/menu.yaml"
        let broken = try inside("cp \(menu) /root/menu.yaml.good && printf 'entries:\\n  - id: [\\n' >>\(menu) && systemctl reload garage-pxe")
        #expect(broken.status == 0, "\(broken.output)")
        #expect(waitUntil(60) { unitLog().contains("menus reload refused, still serving the previous menus (SIGHUP)") }, "\(unitLog())")
        #expect(unitLog().range(of: #"menu\.yaml:[0-9]+:[0-9]+: error"#, options: .regularExpression) != nil, "\(unitLog())")
        #expect(property("ActiveState") == "active")
        let stillServing = try pcRun(["/usr/bin/tftp", "10.99.0.1", "-m", "binary", "-c", "get", "undionly.kpxe", got.path + ".2"])
        #expect(stillServing.status == 0, "\(stillServing.output)")
        // The good menu back, and the refusal lifted: both applied by one reload.
        let reloadsBefore = journalEntries("GARAGE_PXE_EVENT=config.reloaded").count
        let good = try inside("""
            cp /root/menu.yaml.good \(menu) && sed -i 's|^  refuse_options: .*$|  refuse_options: []|' \(Self.config) \
            && systemctl reload garage-pxe
            """)
        #expect(good.status == 0, "\(good.output)")
        #expect(waitUntil(60) {
            journalEntries("GARAGE_PXE_EVENT=config.reloaded").contains { $0["MESSAGE"] as? String == "garage-pxe menus reloaded (SIGHUP)" }
                && journalEntries("GARAGE_PXE_EVENT=config.reloaded").count >= reloadsBefore + 2
        }, "\(unitLog())")
        let allowed = try atftp()
        #expect(allowed.contains("OACK") && allowed.contains("DATA <block: 1, size 1024>"), "blksize allowed after the reload:\n\(allowed)")

        // The catalog, installed by the package, explains the events in journalctl -x.
        let explained = try inside("journalctl -x -q --no-pager GARAGE_PXE_EVENT=tftp.sent").output
        #expect(explained.contains("Event tftp.sent. A TFTP transfer completed."), "\(explained)")

        // The unit's hardening as systemd itself rates it, on the installed unit.
        let security = try inside("systemd-analyze security --no-pager garage-pxe.service").output
        let exposure = security.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { $0.split(separator: " ").compactMap { Double($0) }.first }
        #expect(exposure != nil && exposure! <= 2.0, "\(security)")

        // A wedged daemon (SIGSTOP): the watchdog pings stop, systemd kills and restarts it.
        let wedged = property("MainPID")
        try #require(try inside("kill -STOP \(wedged)").status == 0)
        #expect(waitUntil(180) {
            let now = property("MainPID")
            return now != wedged && now != "0" && property("ActiveState") == "active" && property("SubState") == "running"
        }, "not restarted:\n\(unitLog())")
        #expect(Int(property("NRestarts")) == 1)
        #expect(unitLog().contains("Watchdog timeout"), "\(unitLog())")
        let afterRestart = try pcRun(["/usr/bin/tftp", "10.99.0.1", "-m", "binary", "-c", "get", "undionly.kpxe", got.path + ".3"])
        #expect(afterRestart.status == 0, "\(afterRestart.output)")

        // Each saved menu file is one reload, never a loop of them (the folder watcher's own
        // re-added watches once counted as changes: a reload every ~300 ms, forever).
        let watcherReloads = journalEntries("GARAGE_PXE_EVENT=config.reloaded").filter { ($0["MESSAGE"] as? String)?.hasSuffix("(files changed)") == true }
        #expect(watcherReloads.count <= 2, "\(watcherReloads.count) reloads for two saved files")

        // A clean stop.
        let stopped = try inside("systemctl stop garage-pxe", limit: 120)
        #expect(stopped.status == 0, "\(stopped.output)")
        #expect(property("ActiveState") == "inactive" && property("Result") == "success", "\(unitLog())")

        print("""
            package-in-systemd: container root ready in \(String(format: "%.1f", rootSeconds)) s; \
            boot to running in \(String(format: "%.1f", container.bootSeconds)) s; \
            whole test \(String(format: "%.1f", Date().timeIntervalSince(testStart))) s
            """)
    }

    /// The DISCOVER SeaBIOS's iPXE ROM sent (Tests/Fixtures/dhcp), its chaddr set to the PC's
    /// MAC, broadcast on pc0 from port 68 as firmware does; prints the proxy's answer.
    static let discover = #"""
    import socket, struct, sys
    pcap, mac = open(sys.argv[1], "rb").read(), bytes.fromhex(sys.argv[2].replace(":", ""))
    length = struct.unpack("<I", pcap[32:36])[0]
    frame = pcap[40:40 + length]
    ip = (frame[14] & 15) * 4
    packet = bytearray(frame[14 + ip + 8:])
    assert packet[0] == 1 and packet[240:243] == b"\x35\x01\x01", "the first frame is a DISCOVER"
    packet[28:34] = mac
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"pc0")
    s.bind(("", 68))
    s.settimeout(4)
    for attempt in range(10):
        s.sendto(bytes(packet), ("255.255.255.255", 67))
        try:
            while True:
                answer, sender = s.recvfrom(4096)
                if answer[0] == 2 and answer[4:8] == packet[4:8]:
                    print("offer from", sender[0], "to", answer[28:34].hex(), "PXEClient" if b"PXEClient" in answer else "no option 60")
                    sys.exit(0)
        except socket.timeout:
            pass
    print("no offer")
    sys.exit(1)
    """#
}
