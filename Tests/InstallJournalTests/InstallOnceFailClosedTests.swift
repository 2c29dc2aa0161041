import Foundation
import InstallJournal
import Testing
import TestSupport

/// Issue 15: install once when the daemon is started by hand, when the journal lost the
/// deciding event, and when nothing can tell. The real daemon binary, in a private network
/// namespace, next to a real private journald; run by hand (no JOURNAL_STREAM, no
/// INVOCATION_ID, no --events) as an unprivileged user, with its state folder under the test's.
@Suite("install once fails closed, real daemon and journald", .serialized)
struct InstallOnceFailClosedTests {
    static let mac = "52:54:00:ab:cd:41"
    static let other = "52:54:00:ab:cd:42"

    @Test("by hand: events reach the journal; the state file keeps an install through a vacuumed journal; with neither, the local disk and why")
    func failsClosed() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxfc", """
        mac=$5 other=$6
        \(BenchPCs.functions)
        # As a person runs it from a shell: no systemd variables, --events left at auto.
        byhand() { nosystemd=1 launch "$@"; }
        echo "=== environment"; ip netns exec "$ns" env -u JOURNAL_STREAM -u INVOCATION_ID env | grep -E '^(JOURNAL_STREAM|INVOCATION_ID)='; echo "end"

        # (a) by hand, a journal reachable: the install's events are written to it.
        byhand --groups="$jgid"
        echo "=== fresh"; menu "$mac"
        pc "$mac"; install "$mac"; report "$mac" finished >/dev/null
        waitfor "$mac" installer.finished 1
        echo "=== finished-journal"; journalctl -q -D /run/log/journal -o cat "GARAGE_PXE_MAC=$mac" GARAGE_PXE_EVENT=installer.finished
        stop
        echo "=== state-after-install"; cat "$state/install-once.json"; echo

        # (b) the journal vacuumed: journald stopped, its files deleted, a new journald.
        kill "$GARAGE_PXE_JOURNALD_PID"
        for _ in $(seq 1 1200); do gone "$GARAGE_PXE_JOURNALD_PID" && break; sleep 0.1; done
        gone "$GARAGE_PXE_JOURNALD_PID" || echo "journald did not stop"
        # Meanwhile, by hand with no journal reachable: log mode, said loudly.
        dlog=$images/../nojournal.log byhand --groups="$jgid"
        echo "=== nojournal-api"; get "api/machines"; echo
        stop
        echo "=== nojournal"; cat "$images/../nojournal.log"
        rm -rf /run/log/journal/* /var/log/journal/*
        /lib/systemd/systemd-journald >/dev/null 2>&1 &
        journald=$!
        for _ in $(seq 1 1200); do ls /run/log/journal/*/system.journal >/dev/null 2>&1 && break; sleep 0.1; done
        echo "=== vacuumed-journal"; journalctl -q -D /run/log/journal -o cat "GARAGE_PXE_MAC=$mac"; echo "end"
        byhand --groups="$jgid"
        echo "=== vacuumed"; menu "$mac"
        echo "=== vacuumed-other"; menu "$other"
        stop
        echo "=== render-vacuumed"
        "$bin" render --config "$config" --images "$images" --address 10.99.0.1 --http-port 8080 --platform efi --mac "$mac" --state "$state" 2>&1

        # (c) no state file, and a journal the daemon cannot read (its user is not in systemd-journal).
        rm -f "$state/install-once.json"
        byhand --clear-groups
        echo "=== unknown"; menu "$mac"
        echo "=== unknown-other"; menu "$other"
        echo "=== unknown-api"; get "api/machines"; echo
        echo "=== rearm-other"; admin POST "rearm?mac=$other&by=bench" >/dev/null; menu "$other"
        stop
        echo "=== state-unknown"; cat "$state/install-once.json"; echo

        # --events log: said loudly, in the log and on the bench page.
        dlog=$images/../log-mode.log launch --groups="$jgid" -- --events log
        echo "=== log-mode-api"; get "api/machines"; echo
        stop
        echo "=== log-mode"; cat "$images/../log-mode.log"
        echo "=== daemon"; cat "$log"
        kill "$journald"; wait "$journald"
        """, extra: [Self.mac, Self.other])
        let installer = "debian-13-auto", disk = "disque-local"
        let menuDefault = InstallOnceJournalTests.menuDefault
        let reason = "Etat d'installation inconnu"

        #expect(out["environment"] == "end\n", "the daemon runs without systemd's variables: \(context)")
        // (a)
        #expect(menuDefault(out["fresh"]) == installer, "\(context)")
        #expect(out["finished-journal"]?.contains("installer.finished \(Self.mac)") == true, "by hand, the event reached the journal: \(context)")
        let state = try? JSONSerialization.jsonObject(with: Data((out["state-after-install"] ?? "").utf8)) as? [String: Any]
        let entry = (state?["machines"] as? [String: Any])?[Self.mac] as? [String: Any]
        #expect(entry?["installed"] as? Bool == true, "the state file records the install: \(context)")
        #expect((entry?["installID"] as? String)?.isEmpty == false, "with its install ID: \(context)")
        // (b)
        #expect(out["vacuumed-journal"] == "end\n", "the journal no longer has the install: \(context)")
        #expect(!(out["preamble"] ?? "").contains("did not stop"), "\(context)")
        #expect(menuDefault(out["vacuumed"]) == disk, "the state file keeps the install: \(context)")
        #expect(!(out["vacuumed"] ?? "").contains(reason))
        #expect(menuDefault(out["vacuumed-other"]) == installer, "a brand-new machine installs: \(context)")
        #expect(menuDefault(out["render-vacuumed"]) == disk, "render decides as the daemon does: \(context)")
        #expect(out["render-vacuumed"]?.contains("garage-pxe: state file: installed at ") == true, "and says from what: \(context)")
        // (c)
        #expect(menuDefault(out["unknown"]) == disk, "fails closed: \(context)")
        #expect(out["unknown"]?.contains("item --gap -- \(reason)") == true, "the menu says why: \(context)")
        #expect(menuDefault(out["unknown-other"]) == disk, "an unknown machine cannot be told from an installed one: \(context)")
        #expect(menuDefault(out["rearm-other"]) == installer, "rearmed at the bench, it installs: \(context)")
        #expect(out["daemon"]?.contains("install once cannot decide") == true, "said at start: \(context)")
        #expect(out["unknown-api"]?.contains("install once cannot decide") == true, "and on the bench page: \(context)")
        let unknownState = try? JSONSerialization.jsonObject(with: Data((out["state-unknown"] ?? "").utf8)) as? [String: Any]
        #expect(unknownState?["incomplete"] as? Bool == true, "\(context)")
        // by hand, journald down: --events auto falls back to log lines and says so
        #expect(out["nojournal"]?.contains(" error ") == true && out["nojournal"]?.contains("install events are NOT recorded") == true, "\(context)")
        #expect(out["nojournal-api"]?.contains("install events are NOT recorded") == true, "\(context)")
        // --events log
        #expect(out["log-mode"]?.contains("error") == true && out["log-mode"]?.contains("install events are NOT recorded") == true, "\(context)")
        #expect(out["log-mode-api"]?.contains("install events are NOT recorded") == true, "the bench page's data says it: \(context)")
        #expect(!(out["daemon"] ?? "").contains("install events are NOT recorded"), "by hand next to a journal, no warning: \(context)")
    }
}
