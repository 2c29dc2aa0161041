import Foundation
import InstallJournal
import Testing
import TestSupport

/// The real daemon writes to a real systemd-journald, started by the test in its own mount
/// namespace (so the host's journal never sees a test event); the events are read back by
/// field matches with journalctl and with `garage-pxe history` / `machines`.
@Suite("private journald", .serialized)
struct PrivateJournaldTests {
    static let mac = "52:54:00:ab:cd:01"

    @Test("the daemon's events of one install are read back by MAC and serial, with journalctl -o json and the CLI")
    func daemonEventsReadBack() throws {
        let space = try DaemonWorkspace(prefix: "gpxjd")
        defer { space.remove() }
        let ns = space.ns, work = space.work
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 mac=$5
        base=http://10.99.0.1:8080
        ip netns exec "$ns" "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
            --http-port 8080 --user nobody --state "$images/../state" --events journal >"$images/../daemon.log" 2>&1 &
        daemon=$!
        for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        \(BenchPCs.functions)
        # The PC's own requests, from its own address and MAC.
        pc "$mac"
        get() { pcget "$mac" "$1" >/dev/null; }
        get "boot.ipxe?mac=$mac&platform=efi&buildarch=x86_64&serial=PF0ABC12&manufacturer=LENOVO&product=ThinkCentre%20M720q"
        script=$(pcget "$mac" "boot/debian-13-auto.ipxe?mac=$mac&platform=efi")
        token[$mac]=$(printf '%s' "$script" | grep -o 'token=[0-9a-f]*' | head -n 1 | cut -d= -f2)
        get "images/debian-13-amd64/linux"
        get "preseed/debian-13-auto.cfg?mac=$mac&token=${token[$mac]}"
        report "$mac" finished >/dev/null
        kill "$daemon"; wait "$daemon"
        # journald reads its socket on its own time: wait (bounded) for the last event.
        for _ in $(seq 1 1200); do
            journalctl -q -D /run/log/journal GARAGE_PXE_EVENT=installer.finished -o cat | grep -q . && break; sleep 0.1
        done
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac"
        echo "=== history"; "$bin" history "$mac" --json --directory /run/log/journal
        echo "=== serial"; "$bin" history PF0ABC12 --directory /run/log/journal
        echo "=== machines"; "$bin" machines --json --directory /run/log/journal --site "Atelier Garage"
        echo "=== othersite"; "$bin" machines --json --directory /run/log/journal --site elsewhere
        echo "=== daemon"; cat "$images/../daemon.log"
        """
        let out = try underPrivateJournald(script, [ns.name, Repo.binary, Repo.path("config/garage-pxe.yaml"),
                                                    work.appendingPathComponent("images").path, Self.mac])
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")

        // journalctl's view: one JSON object per line, in order.
        let entries = (out["json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let kinds = entries.compactMap { $0["GARAGE_PXE_EVENT"] as? String }
        #expect(kinds == ["menu.shown", "menu.chosen", "image.sent", "installer.started", "installer.finished"], "\(context)")
        let chosen = try #require(entries.first { $0["GARAGE_PXE_EVENT"] as? String == "menu.chosen" }, "\(context)")
        #expect(chosen["GARAGE_PXE_SERIAL"] as? String == "PF0ABC12")
        #expect(chosen["GARAGE_PXE_PRODUCT"] as? String == "ThinkCentre M720q")
        #expect(chosen["GARAGE_PXE_SITE"] as? String == "Atelier Garage")
        #expect(chosen["GARAGE_PXE_ENTRY"] as? String == "debian-13-auto")
        #expect(chosen["MESSAGE_ID"] as? String == InstallEventKind.menuChosen.messageID)
        let installID = try #require(chosen["GARAGE_PXE_INSTALL_ID"] as? String)
        let finished = entries.last
        #expect(finished?["GARAGE_PXE_INSTALL_ID"] as? String == installID, "the attempt's id is carried to its end")
        #expect(finished?["PRIORITY"] as? String == "5")
        let image = entries.first { $0["GARAGE_PXE_EVENT"] as? String == "image.sent" }
        #expect(image?["GARAGE_PXE_MAC"] as? String == Self.mac, "the image request had no MAC: found from its IP")
        #expect(image?["GARAGE_PXE_IMAGE"] as? String == "debian-13-amd64")

        // The CLI's view of the same journal files.
        let history = try JSONDecoder().decode([JournalRecord].self, from: Data((out["history"] ?? "").utf8))
        #expect(history.compactMap(\.kind?.rawValue) == kinds)
        #expect((out["serial"] ?? "").split(separator: "\n").count == kinds.count, "by serial, the MAC's events: \(out["serial"] ?? "")")
        let machines = try JSONDecoder().decode([MachineSummary].self, from: Data((out["machines"] ?? "").utf8))
        #expect(machines.count == 1)
        #expect(machines.first?.mac == Self.mac)
        #expect(machines.first?.result == "finished")
        #expect(machines.first?.installCount == 1)
        #expect(machines.first?.serial == "PF0ABC12")
        #expect(try JSONDecoder().decode([MachineSummary].self, from: Data((out["othersite"] ?? "").utf8)).isEmpty)
        #expect(!(out["daemon"] ?? "").contains("garage-pxe-event"), "nothing fell back to stderr: \(out["daemon"] ?? "")")
    }
}
