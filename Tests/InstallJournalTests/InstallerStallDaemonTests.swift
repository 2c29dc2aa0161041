import Foundation
import InstallJournal
import Testing
import TestSupport

/// A stuck installer on the real daemon (issue 17, point 1): a PC in a client namespace of
/// its own (the far end of the daemon's veth) boots the auto-install entry over HTTP and
/// sends its installer syslog over UDP — the captured offline-mirror run, then anna's
/// "package retrieval failed", then silence after a reload that shortens
/// `installer.stall_seconds`, then a fatal GRUB line. The events are read back from a
/// private journald; `garage-pxe machines` and the bench API are read while it is stalled.
extension PrivateJournaldTests {
    @Test("installing → installer.stalled (dialog line) → installer.resumed → stalled (anna) → resumed → stalled (silence, after a reload) → resumed → installer.failed; machines and the bench API say why")
    func installerStallOnTheRealDaemon() throws {
        let space = try DaemonWorkspace(prefix: "gpxst")
        defer { space.remove() }
        let config = try Self.reloadConfig(space)
        let pc = try NetworkNamespace(prefix: "gpxsc", address: "10.98.0.1")
        defer { pc.remove() }
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 pc=$5 fixture=$6
        base=http://10.99.0.1:8080
        \(PrivateJournald.daemonFunctions)
        \(Self.reloadFunction)
        start
        # The PC: the far end of the daemon's veth, moved into its own namespace.
        ip -n "$ns" link set eth1 down
        ip -n "$ns" link set eth1 name pc0
        ip -n "$ns" link set pc0 netns "$pc"
        ip -n "$pc" addr add 10.99.0.9/24 dev pc0
        ip -n "$pc" link set pc0 up
        mac=$(ip -n "$pc" -br link show pc0 | awk '{print $3}')
        echo "=== mac"; echo "$mac"
        pcget() { ip netns exec "$pc" curl -s -o /dev/null "$base/$1"; }
        # One datagram per argument line, busybox's way, from the PC to the daemon's syslog port.
        say() {
            ip netns exec "$pc" python3 -c '
        import socket, sys, re
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for line in sys.argv[1:]:
            s.sendto(re.sub(rb"\\\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), line.encode()), ("10.99.0.1", 514))
        ' "$@"
        }
        pcget "boot.ipxe?mac=$mac&platform=pcbios&serial=PF0STUCK"
        pcget "boot/debian-13-auto.ipxe?mac=$mac&platform=pcbios"
        # The captured run up to main-menu's network-preseed item, the preseed fetch it
        # makes, then the rest: it ends on choose-mirror's warning before the bad-mirror question.
        split=$(grep -n "Menu item 'network-preseed' selected" "$fixture" | cut -d: -f1)
        mapfile -t head < <(head -n "$split" "$fixture")
        mapfile -t tail < <(tail -n +"$((split + 1))" "$fixture")
        say "${head[@]}"
        waitfor "$mac" installer.step 1
        pcget "preseed/debian-13-auto.cfg?mac=$mac"
        say "${tail[@]}"
        waitfor "$mac" installer.stalled 1
        echo "=== machines1"; "$bin" machines --directory /run/log/journal
        # Someone chose another mirror: choose-mirror runs again, then anna cannot fetch a component.
        say "<14>Dec  6 05:37:02 main-menu[256]: INFO: Menu item 'choose-mirror' selected\\\\x0a"
        waitfor "$mac" installer.resumed 1
        say "<12>Dec  6 05:41:07 anna[1833]: WARNING **: package retrieval failed\\\\x0a"
        waitfor "$mac" installer.stalled 2
        echo "=== machines2"; "$bin" machines --directory /run/log/journal
        echo "=== api2"; get api/machines; echo
        # "Réessayer": anna goes on; then nothing for installer.stall_seconds, shortened by a reload.
        say "<13>Dec  6 05:43:10 anna-install: Queueing udeb apt-mirror-setup for later installation\\\\x0a"
        waitfor "$mac" installer.resumed 2
        reload 's/stall_seconds: 300$/stall_seconds: 2/'
        waitfor "$mac" installer.stalled 3
        echo "=== machines3"; "$bin" machines --directory /run/log/journal --json
        say "<14>Dec  6 06:01:00 main-menu[256]: INFO: Menu item 'grub-installer' selected\\\\x0a" \\
            "<11>Dec  6 06:09:00 grub-installer: error: Running 'grub-install  --force \\"/dev/sda\\"' failed.\\\\x0a"
        waitfor "$mac" installer.failed 1
        echo "=== machines4"; "$bin" machines --directory /run/log/journal --json
        stop
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac"
        echo "=== daemon"; cat "$log"
        """
        let out = try underPrivateJournald(script, [space.ns.name, Repo.binary, config.path, space.images.path, pc.name,
                                                    Repo.path("Tests/Fixtures/installer-syslog/bookworm-bios-offline-mirror.txt")])
        let context = out.sorted { $0.key < $1.key }.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        #expect(!context.contains("timed out waiting"), "\(context)")
        #expect(out["reloadfailed"] == nil, "\(context)")
        let mac = (out["mac"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(mac.count == 17, "\(context)")

        let events = Self.jsonLines(out["json"]).filter { $0["GARAGE_PXE_EVENT"] as? String != "installer.log" }
        let kinds = events.compactMap { $0["GARAGE_PXE_EVENT"] as? String }
        #expect(kinds == ["menu.shown", "menu.chosen", "installer.started",
                          "installer.step", "installer.step", "installer.step", "installer.step",
                          "installer.stalled", "installer.resumed", "installer.step", "installer.stalled",
                          "installer.resumed", "installer.stalled",
                          "installer.resumed", "installer.step", "installer.failed"], "\(context)")
        #expect(Set(events.dropFirst().compactMap { $0["GARAGE_PXE_INSTALL_ID"] as? String }).count == 1,
                "one INSTALL_ID from menu.chosen to installer.failed: \(context)")
        let stalls = events.filter { $0["GARAGE_PXE_EVENT"] as? String == "installer.stalled" }
        #expect(stalls.compactMap { $0["GARAGE_PXE_CAUSE"] as? String } == ["mirror", "component-download", "silence"], "\(context)")
        #expect(stalls.compactMap { $0["GARAGE_PXE_REASON"] as? String } == [
            "le miroir ne propose pas la version demandée (bookworm)",
            "téléchargement d'un composant depuis le miroir a échoué",
            "aucune ligne de l'installateur depuis 2 s (une question attend peut-être à l'écran)",
        ], "\(context)")
        #expect(stalls.allSatisfy { $0["PRIORITY"] as? String == "4" && $0["MESSAGE_ID"] as? String == InstallEventKind.installerStalled.messageID })
        #expect(stalls.first?["GARAGE_PXE_INSTALLER_LINE"] as? String
                == "choose-mirror[3179]: WARNING **: mirror does not support the specified release (bookworm)")
        #expect(stalls.map { $0["GARAGE_PXE_STEP"] as? String } == ["mirror", "mirror", "mirror"], "\(context)")
        let resumed = events.filter { $0["GARAGE_PXE_EVENT"] as? String == "installer.resumed" }
        #expect(resumed.allSatisfy { $0["PRIORITY"] as? String == "5" && $0["MESSAGE_ID"] as? String == InstallEventKind.installerResumed.messageID })
        let failed = try #require(events.last)
        #expect(failed["PRIORITY"] as? String == "3")
        #expect(failed["GARAGE_PXE_REASON"] as? String == "GRUB n'a pas pu être installé sur le disque")
        #expect(failed["GARAGE_PXE_CAUSE"] as? String == "bootloader" && failed["GARAGE_PXE_STEP"] as? String == "bootloader")

        // What a person sees while it waits: machines' table and the bench API.
        func row(_ section: String) -> [String] {
            (out[section] ?? "").split(separator: "\n").first { $0.hasPrefix(mac) }.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) } ?? []
        }
        #expect(row("machines1").suffix(3) == ["stalled", "1", "bloqué : le miroir ne propose pas la version demandée (bookworm)"], "\(context)")
        #expect(row("machines2").suffix(3) == ["stalled", "1", "bloqué : téléchargement d'un composant depuis le miroir a échoué"], "\(context)")
        #expect((out["machines1"] ?? "").hasPrefix("MAC\tSERIAL\tMODEL\tLAST STAGE\tSTARTED\tELAPSED\tRESULT\tINSTALLS\tWHY"))
        // The bench API's JSON as the page reads it (BootHTTP's BenchMachineList).
        let api = try #require(try JSONSerialization.jsonObject(with: Data((out["api2"] ?? "").utf8)) as? [String: Any], "\(context)")
        let bench = try #require((api["machines"] as? [[String: Any]])?.first { ($0["summary"] as? [String: Any])?["mac"] as? String == mac }, "\(context)")
        let summary = bench["summary"] as? [String: Any] ?? [:]
        #expect(summary["result"] as? String == "stalled" && bench["stage"] as? String == "installer.step" && bench["failure"] == nil, "\(bench)")
        #expect(summary["stalledReason"] as? String == "téléchargement d'un composant depuis le miroir a échoué", "\(bench)")
        let silent = try #require(try JSONDecoder().decode([MachineSummary].self, from: Data((out["machines3"] ?? "").utf8)).first { $0.mac == mac })
        #expect(silent.result == "stalled" && silent.stalledReason?.hasPrefix("aucune ligne de l'installateur") == true, "\(silent)")
        let end = try #require(try JSONDecoder().decode([MachineSummary].self, from: Data((out["machines4"] ?? "").utf8)).first { $0.mac == mac })
        #expect(end.result == "failed" && end.stalledReason == nil, "\(end)")
        #expect((out["daemon"] ?? "").contains("installer.stall_seconds"), "the reload names the key it applied: \(context)")
    }
}
