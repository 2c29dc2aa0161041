import Foundation
import InstallJournal
import Testing
import TestSupport

/// Install once and first boot against the real daemon and a real private journald. The
/// daemon runs the way its unit runs it: as an unprivileged user in the systemd-journal
/// group with only CAP_NET_BIND_SERVICE, so it must read the journal back like in production.
@Suite("install once and first boot, real journald", .serialized)
struct InstallOnceJournalTests {
    static let mac = "52:54:00:ab:cd:11"
    static let other = "52:54:00:ab:cd:12"

    /// `--default X` of the menu's choose line.
    static func menuDefault(_ menu: String?) -> String? {
        guard let line = menu?.split(separator: "\n").first(where: { $0.hasPrefix("choose ") }) else { return nil }
        let words = line.split(separator: " ")
        guard let i = words.firstIndex(of: "--default"), i + 1 < words.count else { return nil }
        return String(words[i + 1])
    }

    @Test("an installed machine's menu defaults to the local disk; rearm (CLI or an admin POST) arms the installer; both survive a restart")
    func installOnceAcrossRestarts() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxio", """
        mac=$5 other=$6
        \(BenchPCs.functions)
        start
        pc "$mac"
        echo "=== fresh"; menu "$mac"
        install "$mac"; report "$mac" finished >/dev/null
        echo "=== finished"; menu "$mac"
        waitfor "$mac" installer.finished 1
        stop; start
        echo "=== finished-restarted"; menu "$mac"
        # The CLI reads the admin token (root) and POSTs to the running daemon.
        echo "=== cli-rearm"; ip netns exec "$ns" "$bin" rearm "$mac" --config "$config" --http-port 8080 --state "$state"; echo "status $?"
        waitfor "$mac" machine.rearmed 1
        echo "=== cli-rearmed"; menu "$mac"
        # The token given before the restart still proves the PC's reports.
        report "$mac" finished >/dev/null
        echo "=== finished-again"; menu "$mac"
        echo "=== bench-rearm"; admin POST "rearm?mac=$mac&by=bench"
        echo "=== bench-rearmed"; menu "$mac"
        echo "=== bad-bench-rearm"; admin POST "rearm?mac=zz"
        waitfor "$mac" machine.rearmed 2
        stop; start
        echo "=== bench-rearmed-restarted"; menu "$mac"
        report "$mac" finished >/dev/null
        waitfor "$mac" installer.finished 3
        stop
        render() { "$bin" render --config "$config" --images "$images" --address 10.99.0.1 --http-port 8080 --platform efi "$@"; }
        echo "=== render-journal"; render --mac "$mac" --journal-directory /run/log/journal 2>&1
        echo "=== render-other"; render --mac "$other" --journal-directory /run/log/journal 2>/dev/null
        echo "=== render-other-installed"; render --mac "$other" --installed 2>/dev/null
        echo "=== bad-rearm"; "$bin" rearm not-a-mac --config "$config" 2>&1; echo "status $?"
        echo "=== rearmed-json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac" GARAGE_PXE_EVENT=machine.rearmed
        echo "=== shown-json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac" GARAGE_PXE_EVENT=menu.shown
        echo "=== daemon"; cat "$log"
        """, extra: [Self.mac, Self.other])
        let installer = "debian-13-auto", disk = "disque-local"

        #expect(Self.menuDefault(out["fresh"]) == installer, "\(context)")
        // Right after installer.finished (the daemon's own write, before journald has it).
        #expect(Self.menuDefault(out["finished"]) == disk, "\(context)")
        let installedMenu = out["finished"] ?? ""
        #expect(installedMenu.contains("item debian-13-auto "), "the installer stays pickable")
        #expect(!installedMenu.contains("rearm"), "no URL in a PC's menu re-arms it: \(installedMenu)")
        // From the journal only, after a restart.
        #expect(Self.menuDefault(out["finished-restarted"]) == disk, "\(context)")
        // The CLI writes to the journal while the daemon runs; seen at the next menu.
        #expect(out["cli-rearm"]?.contains("status 0") == true, "\(context)")
        #expect(Self.menuDefault(out["cli-rearmed"]) == installer, "\(context)")
        #expect(Self.menuDefault(out["finished-again"]) == disk, "\(context)")
        #expect(out["bench-rearm"] == "200\n", "\(context)")
        #expect(Self.menuDefault(out["bench-rearmed"]) == installer, "\(context)")
        #expect(out["bad-bench-rearm"] == "400\n", "a bad MAC is refused, not recorded: \(context)")
        #expect(Self.menuDefault(out["bench-rearmed-restarted"]) == installer, "\(context)")
        // `render` makes the same decision from the journal files.
        #expect(Self.menuDefault(out["render-journal"]) == disk, "\(context)")
        #expect(out["render-journal"]?.contains("installer.finished") == true, "render says why: \(out["render-journal"] ?? "")")
        #expect(Self.menuDefault(out["render-other"]) == installer)
        #expect(Self.menuDefault(out["render-other-installed"]) == disk)
        #expect(out["bad-rearm"]?.contains("status 64") == true || out["bad-rearm"]?.contains("status 1") == true, "\(out["bad-rearm"] ?? "")")
        #expect(out["bad-rearm"]?.contains("not a MAC address") == true)

        let rearmed = (out["rearmed-json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rearmed.count == 2, "\(context)")
        #expect(rearmed.allSatisfy { $0["MESSAGE_ID"] as? String == InstallEventKind.machineRearmed.messageID && $0["PRIORITY"] as? String == "5" })
        #expect(rearmed.allSatisfy { $0["GARAGE_PXE_SITE"] as? String == "Atelier Garage" })
        #expect(rearmed.compactMap { $0["GARAGE_PXE_REASON"] as? String } == ["garage-pxe rearm", "bench page"])
        // menu.shown names the default the machine was offered.
        let shown = (out["shown-json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.compactMap { $0["GARAGE_PXE_ENTRY"] as? String }
        #expect(shown == [installer, disk, disk, installer, disk, installer, installer], "\(context)")
        #expect(!(out["daemon"] ?? "").contains("cannot read the journal"), "the daemon read the journal: \(out["daemon"] ?? "")")
        #expect(!(out["daemon"] ?? "").contains("garage-pxe-event"), "nothing fell back to stderr")
    }

    static let firstBoot = Repo.path("pxe-menus/postinstall/garage-pxe-first-boot")

    @Test("the first-boot script, run by bash, reports machine.delivered to the real daemon, retries while it is away, and runs once")
    func firstBootDelivers() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxfb", """
        mac=$5 late=$6 firstboot=$7
        \(BenchPCs.functions)
        conf() { local name=$1; shift; printf '%s\\n' "$@" > "$images/../$name.conf"; echo "$images/../$name.conf"; }
        firstboot() { ip netns exec "$ns" env -i PATH=/usr/bin:/bin /bin/bash "$firstboot" "$1" 2>&1; echo "status $?"; [ -e "$1" ] && echo "conf kept" || echo "conf removed"; }
        start
        # Both PCs install first: the first-boot URL the preseed writes carries the install's token.
        pc "$mac"; pc "$late"; install "$mac"; install "$late"
        # Without the token (a forged first boot): refused, not a success.
        forged=$(conf forged "GARAGE_PXE_PROGRESS_URL=$base/progress?mac=$mac&stage=first-boot" GARAGE_PXE_ATTEMPTS=1 GARAGE_PXE_RETRY_SECONDS=0)
        echo "=== forged"; firstboot "$forged"
        ok=$(conf ok "GARAGE_PXE_PROGRESS_URL=$base/progress?mac=$mac&stage=first-boot&token=${token[$mac]}")
        echo "=== delivered"; firstboot "$ok"
        waitfor "$mac" machine.delivered 1
        echo "=== delivered-menu"; menu "$mac"
        # Refused by the server (a 400): not a success; bounded retries, then exit 1.
        bad=$(conf bad "GARAGE_PXE_PROGRESS_URL=$base/progress?mac=nope&stage=first-boot" GARAGE_PXE_ATTEMPTS=2 GARAGE_PXE_RETRY_SECONDS=0)
        echo "=== refused"; firstboot "$bad"
        # Nothing listening (network not up yet): bounded retries, the conf stays for the next boot.
        away=$(conf away "GARAGE_PXE_PROGRESS_URL=http://10.99.0.1:8099/progress?mac=$late&stage=first-boot&token=${token[$late]}" GARAGE_PXE_ATTEMPTS=3 GARAGE_PXE_RETRY_SECONDS=0)
        echo "=== unreachable"; firstboot "$away"
        # The server comes up while the script retries: the first attempt fails (stopped), a later one lands.
        stop
        later=$(conf later "GARAGE_PXE_PROGRESS_URL=$base/progress?mac=$late&stage=first-boot&token=${token[$late]}" GARAGE_PXE_ATTEMPTS=120 GARAGE_PXE_RETRY_SECONDS=1)
        firstboot "$later" > "$images/../later.out" &
        retrying=$!
        for _ in $(seq 1 1200); do grep -q "not reachable" "$images/../later.out" && break; sleep 0.1; done
        start
        wait "$retrying"
        echo "=== retried"; cat "$images/../later.out"
        waitfor "$late" machine.delivered 1
        stop
        echo "=== json"; journalctl -q -D /run/log/journal -o json GARAGE_PXE_EVENT=machine.delivered
        echo "=== daemon"; cat "$log"
        """, extra: [Self.mac, Self.other, Self.firstBoot])
        #expect(out["forged"]?.contains("status 1") == true && out["forged"]?.contains("conf kept") == true, "no token, no delivery: \(context)")
        #expect(out["delivered"]?.contains("status 0") == true, "\(context)")
        #expect(out["delivered"]?.contains("conf removed") == true, "runs once: \(context)")
        // A delivered machine is installed: its next network boot goes to its disk.
        #expect(Self.menuDefault(out["delivered-menu"]) == "disque-local", "\(context)")
        #expect(out["refused"]?.contains("status 1") == true && out["refused"]?.contains("conf kept") == true, "\(context)")
        #expect(out["refused"]?.contains("attempt 2 of 2") == true, "\(context)")
        #expect(out["unreachable"]?.contains("status 1") == true && out["unreachable"]?.contains("conf kept") == true, "\(context)")
        #expect(out["unreachable"]?.contains("attempt 3 of 3") == true && out["unreachable"]?.contains("attempt 4") == false, "bounded: \(context)")
        let retried = out["retried"] ?? ""
        #expect(retried.contains("not reachable (attempt 1 of 120)") && retried.contains("first boot reported") && retried.contains("status 0"), "\(context)")
        #expect(retried.contains("conf removed"))
        let delivered = (out["json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(delivered.compactMap { $0["GARAGE_PXE_MAC"] as? String } == [Self.mac, Self.other], "\(context)")
        #expect(delivered.allSatisfy { $0["MESSAGE_ID"] as? String == InstallEventKind.machineDelivered.messageID && $0["GARAGE_PXE_STAGE"] as? String == "first-boot" })
        #expect(delivered.allSatisfy { $0["GARAGE_PXE_SITE"] as? String == "Atelier Garage" })
    }

    @Test("systemd-analyze verify accepts the first-boot unit (with the repository's script in place of /usr/local/sbin)")
    func firstBootUnitVerifies() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-firstboot-unit-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let unit = try String(contentsOfFile: Repo.path("pxe-menus/postinstall/garage-pxe-first-boot.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/sbin/garage-pxe-first-boot /etc/garage-pxe-first-boot.conf garage-pxe-first-boot.service"))
        let copy = dir.appendingPathComponent("garage-pxe-first-boot.service")
        try unit.replacingOccurrences(of: "/usr/local/sbin/garage-pxe-first-boot", with: Self.firstBoot).write(to: copy, atomically: true, encoding: .utf8)
        let result = try run("/usr/bin/systemd-analyze", ["verify", "--man=no", copy.path], allowFailure: true)
        #expect(result.status == 0, "\(result.output)")
        #expect(FileManager.default.isExecutableFile(atPath: Self.firstBoot))
        let syntax = try run("/bin/bash", ["-n", Self.firstBoot], allowFailure: true)
        #expect(syntax.status == 0, "\(syntax.output)")
    }
}
