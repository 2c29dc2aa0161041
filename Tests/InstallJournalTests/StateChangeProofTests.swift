import Foundation
import InstallJournal
import Testing
import TestSupport

/// Issue 16, "state changes need proof", against the real daemon binary under a private
/// journald: a victim PC and an attacker, each in a network namespace of its own with its
/// own MAC on its own link to the daemon. Nothing the attacker sends (a GET re-arm, a preseed
/// fetch, progress calls without the token, spoofed syslog lines, forged DMI fields) changes
/// what the victim boots or what is recorded of it; the admin token and the victim's own
/// install token do, and survive a restart.
@Suite("state changes need proof, real daemon", .serialized)
struct StateChangeProofTests {
    static let victim = "52:54:00:16:00:01"
    static let attacker = "52:54:00:16:00:66"

    @Test("GET /rearm, a token-less preseed fetch, forged progress, spoofed syslog and forged DMI change nothing; the admin and install tokens do")
    func forgeriesChangeNothing() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxpf", """
        victim=$5 attacker=$6
        \(BenchPCs.functions)
        start
        pc "$victim"; pc "$attacker"
        echo "=== token-file"; stat -c '%a %U' "$state/admin-token"
        # The victim boots: its menu (with its DMI fields), then its installer starts with its token.
        pcget "$victim" "boot.ipxe?mac=$victim&platform=efi&serial=REAL-SERIAL&manufacturer=LENOVO" >/dev/null
        echo "=== attacker-entry"; pcget "$attacker" "boot/debian-13-auto.ipxe?mac=$victim&platform=efi"
        install "$victim"
        echo "=== victim-token"; echo "${token[$victim]}"
        # Its installer's syslog: a step from its own address counts.
        syslog "$victim" "<13>Nov 22 03:31:32 main-menu[9]: INFO: Menu item 'partman-base' selected"
        waitfor "$victim" installer.step 1
        # The attacker forges a failure from its own address, and a progress call without the token.
        syslog "$attacker" "<11>Nov 22 03:31:33 main-menu[9]: WARNING **: Configuring 'partman-auto' failed with error code 1"
        echo "=== forged-progress"; on "$attacker" curl -s -o /dev/null -w '%{http_code}\\n' "$base/progress?mac=$victim&stage=failed"
        echo "=== wrong-token-progress"; on "$attacker" curl -s -o /dev/null -w '%{http_code}\\n' "$base/progress?mac=$victim&stage=finished&token=00112233445566778899aabbccddeeff"
        # The victim's own failure line marks it failed but keeps its install open (same INSTALL_ID at the end).
        syslog "$victim" "<11>Nov 22 03:31:34 main-menu[9]: WARNING **: Configuring 'pkgsel' failed with error code 1"
        waitfor "$victim" installer.failed 1
        # A flood from the victim's own address: one burst passes, then 200 lines a second; the
        # rest is dropped and counted. Sent 750 at a time, each batch once the daemon's socket
        # has been read empty (bounded wait), so the kernel drops none: every datagram is
        # either taken or rate-limited. The time from its start to the daemon's stop bounds
        # how many lines the rate may have let through.
        flood_start=$(date +%s%N)
        for batch in $(seq 0 3); do
            on "$victim" python3 -c 'import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(750): s.sendto(b"<13>Nov 22 03:31:35 flood: batch %s line %d" % (sys.argv[1].encode(), i), ("10.99.0.1", 514))' "$batch"
            for _ in $(seq 1 1200); do
                [ "$(ip netns exec "$ns" ss -Hlun 'sport = :514' | awk '{print $2}')" = 0 ] && break; sleep 0.01
            done
        done
        # Its own end, with its token: installed, its next boot is the local disk.
        report "$victim" finished >/dev/null
        waitfor "$victim" installer.finished 1
        echo "=== installed"; pcget "$victim" "boot.ipxe?mac=$victim&platform=efi"
        # The attacker: a GET re-arm, a preseed fetch (as a person reading it), forged DMI, POSTs without or with a wrong admin token.
        echo "=== get-rearm"; on "$attacker" curl -s -o /dev/null -w '%{http_code} %header{allow}\\n' "$base/rearm?mac=$victim&platform=efi"
        echo "=== read-preseed"; on "$attacker" curl -s -w '\\n%{http_code}\\n' "$base/preseed/debian-13-auto.cfg?mac=$victim"
        on "$attacker" curl -s -o /dev/null "$base/boot.ipxe?mac=$victim&platform=efi&serial=FAKE-SERIAL&manufacturer=EVIL"
        echo "=== post-no-token"; on "$attacker" curl -s -o /dev/null -w '%{http_code}\\n' -X POST "$base/rearm?mac=$victim"
        echo "=== post-wrong-token"; admin POST "rearm?mac=$victim" 0000000000000000000000000000000000000000000000000000000000000000
        echo "=== after-forgeries"; pcget "$victim" "boot.ipxe?mac=$victim&platform=efi"
        # A restart: the victim's token still proves its reports (its first boot comes later).
        stop
        echo "=== flood-ms"; echo $(( ($(date +%s%N) - flood_start) / 1000000 ))
        start
        echo "=== after-restart"; pcget "$victim" "boot.ipxe?mac=$victim&platform=efi"
        echo "=== first-boot"; on "$victim" curl -s -o /dev/null -w '%{http_code}\\n' "$base/progress?mac=$victim&stage=first-boot&token=${token[$victim]}"
        waitfor "$victim" machine.delivered 1
        # The admin, with the daemon's token (any host that has it): re-armed.
        echo "=== admin-rearm"; admin POST "rearm?mac=$victim&by=bench"
        waitfor "$victim" machine.rearmed 1
        echo "=== rearmed"; pcget "$victim" "boot.ipxe?mac=$victim&platform=efi"
        stop
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$victim"
        echo "=== fake"; journalctl -q -D /run/log/journal -o cat GARAGE_PXE_SERIAL=FAKE-SERIAL; echo "end"
        echo "=== daemon"; cat "$log"
        """, extra: [Self.victim, Self.attacker])
        let installer = "debian-13-auto", disk = "disque-local"
        let menuDefault = InstallOnceJournalTests.menuDefault

        #expect(out["token-file"] == "600 nobody\n", "the admin token is the daemon user's alone: \(context)")
        let victimToken = (out["victim-token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(victimToken.count == 32, "the victim's entry script carried its install token: \(context)")
        // Asked for the victim's MAC from the attacker's address: the script has no token.
        #expect(out["attacker-entry"]?.contains("url=http://10.99.0.1:8080/preseed/debian-13-auto.cfg?mac=\(Self.victim) ") == true, "\(context)")
        #expect(out["attacker-entry"]?.contains("token=") == false, "\(context)")
        #expect(out["forged-progress"] == "403\n", "\(context)")
        #expect(out["wrong-token-progress"] == "403\n", "\(context)")
        #expect(menuDefault(out["installed"]) == disk, "\(context)")
        // GET re-arm: 405, Allow: POST; the preseed is readable (no token in it) but arms nothing.
        #expect(out["get-rearm"] == "405 POST\n", "\(context)")
        #expect(out["read-preseed"]?.hasSuffix("\n200\n") == true && out["read-preseed"]?.contains("token=") == false, "\(context)")
        #expect(out["post-no-token"] == "403\n", "\(context)")
        #expect(out["post-wrong-token"] == "403\n", "\(context)")
        #expect(menuDefault(out["after-forgeries"]) == disk, "nothing the attacker sent re-armed the victim: \(context)")
        #expect(menuDefault(out["after-restart"]) == disk, "\(context)")
        #expect(out["first-boot"] == "200\n", "the install token survives a restart: \(context)")
        #expect(out["admin-rearm"] == "200\n", "\(context)")
        #expect(menuDefault(out["rearmed"]) == installer, "the admin token re-arms: \(context)")

        let entries = (out["json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        func events(_ kind: String) -> [[String: Any]] { entries.filter { $0["GARAGE_PXE_EVENT"] as? String == kind } }
        // One installer.started (the victim's own fetch), none from the attacker's preseed read.
        #expect(events("installer.started").count == 1, "\(context)")
        // One failure, the victim's own line; the attacker's forged text is nowhere.
        let failed = events("installer.failed")
        #expect(failed.count == 1 && failed.first?["GARAGE_PXE_STAGE"] as? String == "pkgsel", "\(context)")
        #expect(!(out["json"] ?? "").contains("partman-auto"), "the spoofed line was not recorded: \(context)")
        // The failure line did not end the install: the finish carries the same INSTALL_ID as the start.
        let started = events("installer.started").first?["GARAGE_PXE_INSTALL_ID"] as? String
        #expect(started != nil && events("installer.finished").first?["GARAGE_PXE_INSTALL_ID"] as? String == started, "\(context)")
        // The victim's identity stays its own; the forged serial is in no event.
        #expect(events("installer.finished").first?["GARAGE_PXE_SERIAL"] as? String == "REAL-SERIAL", "\(context)")
        #expect(entries.allSatisfy { $0["GARAGE_PXE_SERIAL"] == nil || $0["GARAGE_PXE_SERIAL"] as? String == "REAL-SERIAL" }, "\(context)")
        #expect(out["fake"] == "end\n", "\(context)")
        #expect(events("machine.rearmed").compactMap { $0["GARAGE_PXE_REASON"] as? String } == ["bench page"], "\(context)")

        let daemon = out["daemon"] ?? ""
        #expect(daemon.contains("identity.not-stored"), "the forged DMI is logged: \(daemon)")
        #expect(daemon.contains("status=403"), "refusals are logged: \(daemon)")
        #expect(!daemon.contains(victimToken), "the install token is never logged")
        // The flood: one burst of 2000 passes (with the 2 lines before), then 200 a second; the
        // rest is counted. Counts from the first run's stop line (the log holds both runs).
        func count(_ key: String) -> Int {
            daemon.split(separator: "\n").first { $0.contains("\(key)=") }
                .flatMap { line in line.split(separator: " ").first { $0.hasPrefix("\(key)=") } }
                .flatMap { Int($0.split(separator: "=")[1]) } ?? -1
        }
        let rateLimited = count("installer_syslog_rate_limited"), lines = count("installer_syslog_lines")
        let milliseconds = try #require(Double((out["flood-ms"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)), "\(context)")
        let seconds = milliseconds / 1000
        // Every datagram taken or counted (none lost in between), and never more lines than
        // the burst plus the rate over the time it took (without the limit: all 3000).
        #expect(lines + rateLimited == 2 + 3000, "\(lines) taken, \(rateLimited) rate-limited: \(daemon.suffix(3000))")
        #expect(Double(lines - 2) <= 2000 + 200 * seconds, "\(lines) lines in \(seconds) s: more than the rate allows")
        #expect(count("installer_syslog_unknown_senders") == 1, "the attacker's line, dropped and counted: \(daemon.suffix(3000))")
        print("state change proof: \(rateLimited) of 3000 flood datagrams dropped by the per-sender rate limit, \(lines - 2) taken, \(seconds) s from the flood to the stop")
    }

    @Test("Debian's signed GRUB chain, same rules: the install token only on the PC's own /boot/ID.grub, DMI from /boot.grub only from its address, no GET re-arm; events keep GARAGE_PXE_CHAIN")
    func grubChainSameRules() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxpg", """
        victim=$5 attacker=$6
        \(BenchPCs.functions)
        start
        pc "$victim"; pc "$attacker"
        # As grub.cfg asks: the victim's own GRUB menu with its DMI; the attacker forges the victim's.
        pcget "$victim" "boot.grub?mac=$victim&platform=efi&buildarch=x86_64&serial=REAL-SERIAL&manufacturer=LENOVO" >/dev/null
        on "$attacker" curl -s -o /dev/null "$base/boot.grub?mac=$victim&platform=efi&serial=FAKE-SERIAL&manufacturer=EVIL"
        echo "=== attacker-entry"; pcget "$attacker" "boot/debian-13-auto.grub?mac=$victim&platform=efi"
        echo "=== victim-entry"; pcget "$victim" "boot/debian-13-auto.grub?mac=$victim&platform=efi"
        grubtoken=$(pcget "$victim" "boot/debian-13-auto.grub?mac=$victim&platform=efi" | grep -o 'token=[0-9a-f]*' | head -n 1 | cut -d= -f2)
        echo "=== preseed"; pcget "$victim" "preseed/debian-13-auto.cfg?mac=$victim&token=$grubtoken" | grep -o 'progress?[^"]*stage=finished[^"]*' | head -n 1
        waitfor "$victim" installer.started 1
        echo "=== get-rearm-grub"; on "$attacker" curl -s -o /dev/null -w '%{http_code}\\n' "$base/rearm.grub?mac=$victim&platform=efi"
        echo "=== finished"; on "$victim" curl -s -o /dev/null -w '%{http_code}\\n' "$base/progress?mac=$victim&stage=finished&token=$grubtoken"
        waitfor "$victim" installer.finished 1
        echo "=== installed-menu"; pcget "$victim" "boot.grub?mac=$victim&platform=efi"
        stop
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$victim"
        echo "=== daemon"; cat "$log"
        """, extra: [Self.victim, Self.attacker])
        let attackerEntry = out["attacker-entry"] ?? "", victimEntry = out["victim-entry"] ?? ""
        #expect(attackerEntry.contains("'url=http://10.99.0.1:8080/preseed/debian-13-auto.cfg?mac=\(Self.victim)' "), "\(context)")
        #expect(!attackerEntry.contains("token="), "another host's read of the GRUB entry carries no token: \(context)")
        let linux = victimEntry.split(separator: "\n").first { $0.hasPrefix("linux ") } ?? ""
        #expect(linux.contains("'url=http://10.99.0.1:8080/preseed/debian-13-auto.cfg?mac=\(Self.victim)&token="), "the token is on GRUB's linux line: \(context)")
        #expect(out["preseed"]?.contains("&token=") == true, "the preseed's progress URLs carry it: \(context)")
        #expect(out["get-rearm-grub"] == "404\n", "no GET re-arm route for GRUB: \(context)")
        #expect(out["finished"] == "200\n", "\(context)")
        let installedMenu = out["installed-menu"] ?? ""
        #expect(installedMenu.contains("set default='disque-local'") && !installedMenu.contains("rearm"), "\(context)")

        let entries = (out["json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        func events(_ kind: String) -> [[String: Any]] { entries.filter { $0["GARAGE_PXE_EVENT"] as? String == kind } }
        #expect(events("installer.started").count == 1, "\(context)")
        for kind in ["menu.shown", "menu.chosen", "installer.started", "installer.finished"] {
            #expect(!events(kind).isEmpty && events(kind).allSatisfy { $0["GARAGE_PXE_CHAIN"] as? String == "secureboot-shim" },
                    "\(kind) carries the chain: \(context)")
        }
        #expect(entries.allSatisfy { $0["GARAGE_PXE_SERIAL"] == nil || $0["GARAGE_PXE_SERIAL"] as? String == "REAL-SERIAL" }, "\(context)")
        #expect(events("installer.finished").first?["GARAGE_PXE_SERIAL"] as? String == "REAL-SERIAL", "\(context)")
        #expect((out["daemon"] ?? "").contains("identity.not-stored"), "the forged DMI is logged: \(context)")
    }
}
