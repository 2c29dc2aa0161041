import Foundation
import InstallJournal
import Testing
import TestSupport

extension PrivateJournaldTests {
    /// The real daemon's syslog receiver: a PC (its own namespace and MAC) starts an install
    /// the way its installer does (entry script, preseed with its token), then the captured
    /// installer datagrams are sent over a real UDP socket (python3) from its address, a
    /// line by util-linux `logger` (RFC 5424), and garbage. Lines from an address with no
    /// open install (the daemon's own namespace, a second PC that never started an install)
    /// are dropped and counted (issue 16: a line counts only from a PC with an open install).
    /// The events are read back from a private journald.
    @Test("installer syslog datagrams from a PC with an open install become its installer.log / installer.step events; other senders and garbage are dropped and counted; a missing kernel is image.failed")
    func installerSyslogOverUDP() throws {
        let space = try DaemonWorkspace(prefix: "gpxsl")
        defer { space.remove() }
        let ns = space.ns, work = space.work
        let fixture = "bookworm-bios-offline-mirror.txt"
        let datagrams = try InstallerSyslogFixture.datagrams(fixture)
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 mac=$5 fixture=$6
        base=http://10.99.0.1:8080
        \(BenchPCs.functions)
        ip netns exec "$ns" "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
            --http-port 8080 --user nobody --state "$images/../state" --events journal >"$images/../daemon.log" 2>&1 &
        daemon=$!
        for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        pc "$mac"
        pc 52:54:00:5e:00:02
        echo "=== peermac"; echo 52:54:00:5e:00:02
        # The PC's own menu request (its DMI fields are stored), then its installer's start.
        pcget "$mac" "boot.ipxe?mac=$mac&platform=pcbios&serial=PF0SYSLOG" >/dev/null
        install "$mac"
        # A kernel that is not there: image.failed for that machine, found from its IP.
        pcget "$mac" "images/debian-13-amd64/vmlinuz-absent" >/dev/null
        ip netns exec "$ns" ip addr add 10.99.0.7/24 dev eth0
        on "$mac" python3 - "$fixture" <<'EOF'
        import socket, sys, re
        def unescape(line):
            return re.sub(rb"\\\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), line.encode())
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for line in open(sys.argv[1]).read().split("\\n")[:-1]:
            s.sendto(unescape(line), ("10.99.0.1", 514))
        for garbage in [b"", b"hello, no priority", b"<999>too big a priority", b"<13>" + b"A" * 9000]:
            s.sendto(garbage, ("10.99.0.1", 514))
        EOF
        # The daemon's own namespace (no install there), and a PC that started no install.
        ip netns exec "$ns" python3 -c 'import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.99.0.7", 0))
        s.sendto(b"<14>Nov 22 03:31:32 main-menu[9]: INFO: Menu item netcfg selected\\n", ("10.99.0.1", 514))'
        on 52:54:00:5e:00:02 logger --udp --server 10.99.0.1 --port 514 -t netcfg -p user.info "INFO: from a PC with no install"
        on "$mac" logger --udp --server 10.99.0.1 --port 514 --rfc5424 -t main-menu -p user.info "INFO: Menu item 'pkgsel' selected"
        # journald reads its socket on its own time: wait (bounded) for the last line's event.
        for _ in $(seq 1 1200); do
            journalctl -q -D /run/log/journal GARAGE_PXE_STEP=software -o cat | grep -q . && break; sleep 0.1
        done
        kill "$daemon"; wait "$daemon"
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac"
        echo "=== neighbour"; journalctl -q -D /run/log/journal -o json GARAGE_PXE_MAC=52:54:00:5e:00:02
        echo "=== stranger"; journalctl -q -D /run/log/journal -o json GARAGE_PXE_IP=10.99.0.7
        echo "=== history"; "$bin" history "$mac" --json --directory /run/log/journal
        echo "=== daemon"; cat "$images/../daemon.log"
        """
        let out = try underPrivateJournald(script, [ns.name, Repo.binary, Repo.path("config/garage-pxe.yaml"),
                                                    work.appendingPathComponent("images").path, Self.mac,
                                                    Repo.path("Tests/Fixtures/installer-syslog/\(fixture)")])
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        let entries = (out["json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        func events(_ kind: String) -> [[String: Any]] { entries.filter { $0["GARAGE_PXE_EVENT"] as? String == kind } }

        // Every captured line is one debug event of the machine, its text as MESSAGE, in order.
        let logs = events("installer.log")
        let expectedTexts = try InstallerSyslogFixture.lines(fixture).map(\.text) + ["main-menu: INFO: Menu item 'pkgsel' selected"]
        #expect(logs.compactMap { $0["MESSAGE"] as? String } == expectedTexts, "\(context)")
        #expect(logs.allSatisfy { $0["PRIORITY"] as? String == "7" && $0["GARAGE_PXE_IP"] as? String == "10.98.1.2" })
        #expect(logs.first?["GARAGE_PXE_SERIAL"] as? String == "PF0SYSLOG", "the machine's identity rides along")
        #expect(logs.first?["GARAGE_PXE_SITE"] as? String == "Atelier Garage")
        #expect(datagrams.count == 81)

        // main-menu's items of the real run, then logger's RFC 5424 line.
        let steps = events("installer.step").map { "\($0["GARAGE_PXE_STEP"] ?? "-")/\($0["GARAGE_PXE_STAGE"] ?? "-")" }
        #expect(steps == ["network-preseed/network-preseed", "localechooser/localechooser", "console-setup-udeb/console-setup-udeb",
                          "mirror/choose-mirror", "software/pkgsel"], "\(context)")
        #expect(events("installer.step").allSatisfy { $0["MESSAGE_ID"] as? String == InstallEventKind.installerStep.messageID })

        // The senders with no open install: nothing of theirs in the journal.
        #expect((out["stranger"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(context)")

        // The missing kernel: one err event of the machine.
        let failed = events("image.failed")
        #expect(failed.count == 1, "\(context)")
        #expect(failed.first?["PRIORITY"] as? String == "3")
        #expect(failed.first?["GARAGE_PXE_FILE"] as? String == "/images/debian-13-amd64/vmlinuz-absent")
        #expect((failed.first?["GARAGE_PXE_REASON"] as? String)?.hasPrefix("HTTP 404") == true)
        #expect(failed.first?["MESSAGE_ID"] as? String == InstallEventKind.imageFailed.messageID)

        #expect((out["neighbour"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(context)")

        // `garage-pxe history` shows the same events.
        let history = try JSONDecoder().decode([JournalRecord].self, from: Data((out["history"] ?? "").utf8))
        #expect(history.filter { $0.kind == .installerStep }.count == 5)

        // Counted: 82 lines from the machine; 4 garbage datagrams dropped; 2 from senders with no open install.
        let daemon = out["daemon"] ?? ""
        #expect(daemon.contains("installer_syslog_lines=82"), "\(daemon)")
        #expect(daemon.contains("installer_syslog_dropped=4"), "\(daemon)")
        #expect(daemon.contains("installer_syslog_unknown_senders=2"), "\(daemon)")
        #expect(daemon.contains("installer_syslog_rate_limited=0"), "\(daemon)")
        #expect(!daemon.contains("garage-pxe-event"), "nothing fell back to stderr")
    }
}
