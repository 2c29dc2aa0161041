import Foundation
import InstallJournal
import Testing
import TestSupport

/// Issue 16: start-up reads only what it needs, within a bound. The real daemon binary next
/// to a real private journald holding real deciding events (made by the daemon itself, from
/// the PCs' own namespaces) and a syslog flood of 300 000 installer lines written to journald
/// as the daemon writes them (the receiver's own rate limit would take hours to make it).
@Suite("start-up read: bounded, deciding events only, real daemon and journald", .serialized)
struct StartupReadTests {
    static let installed = "52:54:00:5a:00:01"
    static let rearmed = "52:54:00:5a:00:02"
    static let started = "52:54:00:5a:00:03"
    static let brandNew = "52:54:00:5a:00:04"
    static let floodLines = 300_000

    @Test("a journal of 300 000 installer lines: READY unhindered, install once decides right; past a bound of 1 event, logged, the file marked incomplete, and an undecidable PC boots its disk")
    func floodAndBound() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxsr", """
        installed=$5 rearmed=$6 started=$7 brandnew=$8 lines=$9
        \(BenchPCs.functions)
        # journald's own rate limit (10 000 per 30 s) would drop the flood: lifted for this
        # namespace only, journald restarted on the same (private) files.
        printf '[Journal]\\nRateLimitBurst=0\\nRuntimeMaxUse=1G\\nSystemMaxUse=1G\\n' >"$images/../journald.conf"
        mount --bind "$images/../journald.conf" /etc/systemd/journald.conf
        kill "$GARAGE_PXE_JOURNALD_PID"
        # (the wrapper reaps it only at the end: gone means exited, a zombie included)
        gone() { local s; s=$(cut -d' ' -f3 /proc/$1/stat 2>/dev/null) || return 0; [ "$s" = Z ]; }
        for _ in $(seq 1 300); do gone "$GARAGE_PXE_JOURNALD_PID" && break; sleep 0.1; done
        rm -f /run/systemd/journal/socket
        /lib/systemd/systemd-journald >/dev/null 2>&1 &
        journald=$!
        for _ in $(seq 1 1200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
        # READY: the daemon answers HTTP only once every service is bound, after the start-up reads.
        timed() { local t0 t1; t0=$(date +%s%N); start; t1=$(date +%s%N); echo "$(( (t1 - t0) / 1000000 ))"; }
        startread() { grep 'start-up read of the journal done' "$log" | tail -n 1; }

        start
        pc "$installed"; pc "$rearmed"; pc "$started"
        install "$installed"; report "$installed" finished >/dev/null
        install "$rearmed"; report "$rearmed" finished >/dev/null
        waitfor "$installed" installer.finished 1; waitfor "$rearmed" installer.finished 1
        stop
        rm -f "$state/install-once.json"
        echo "=== ready-ms-before"; timed
        echo "=== read-before"; startread
        stop

        # The flood: installer lines (MESSAGE_ID of installer.log, debug priority, the PCs'
        # MACs and an install ID, ~300 bytes), as the daemon writes each syslog line.
        python3 - "$lines" "$installed" "$rearmed" "$started" <<'PY'
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.connect("/run/systemd/journal/socket")
        n, macs = int(sys.argv[1]), sys.argv[2:]
        head = "PRIORITY=7\\nSYSLOG_IDENTIFIER=garage-pxe\\nMESSAGE_ID=98bc60fa94ca4f6198d02597cef8aa9f\\nGARAGE_PXE_EVENT=installer.log\\nGARAGE_PXE_SITE=flood\\n"
        for i in range(n + 1):
            mac = macs[i % len(macs)]
            text = "end of flood" if i == n else "anna[%d]: DEBUG: retrieving libc6-udeb 2.36-9+deb12u4 %s" % (i, "x" * 160)
            s.send((head + "GARAGE_PXE_MAC=%s\\nGARAGE_PXE_INSTALL_ID=%s\\nMESSAGE=%s\\n" % (mac, "flood-end" if i == n else "flood", text)).encode())
        PY
        for _ in $(seq 1 3000); do
            [ -n "$(journalctl -q -D /run/log/journal GARAGE_PXE_INSTALL_ID=flood-end -o cat)" ] && break; sleep 0.1
        done
        echo "=== flood-count"; journalctl -q -D /run/log/journal MESSAGE_ID=98bc60fa94ca4f6198d02597cef8aa9f -o cat | wc -l
        echo "=== journal-size"; du -sh /run/log/journal /var/log/journal | awk '{print $1}' | tr '\\n' ' '; echo

        # After the flood, real deciding events again: a rearm at the bench, an installer started.
        start
        echo "=== rearm"; admin POST "rearm?mac=$rearmed&by=bench"
        install "$started"
        waitfor "$rearmed" machine.rearmed 1; waitfor "$started" installer.started 1
        stop

        # With the flood, no state file: everything from the journal.
        rm -f "$state/install-once.json"
        echo "=== ready-ms-flood"; timed
        echo "=== read-flood"; startread
        echo "=== menu-installed"; menu "$installed"
        echo "=== menu-rearmed"; menu "$rearmed"
        echo "=== menu-started"; menu "$started"
        echo "=== menu-new"; menu "$brandnew"
        echo "=== ms-menu-flood"; t0=$(date +%s%N); menu "$installed" >/dev/null; echo $(( ($(date +%s%N) - t0) / 1000000 ))
        stop
        echo "=== state-flood"; cat "$state/install-once.json"; echo
        echo "=== cut-flood"; grep -c 'stopped at its bound' "$log"

        # Past the bound: one event per read. Logged; the file keeps the newest and is incomplete.
        repo=$(dirname "$(dirname "$config")")
        sed -e "s#^  menus: ../pxe-menus#  menus: $repo/pxe-menus#" -e 's/^  startup_read_events: .*/  startup_read_events: 1/' "$config" >"$images/../bound.yaml"
        shipped=$config config=$images/../bound.yaml
        rm -f "$state/install-once.json"
        echo "=== ready-ms-bound"; timed
        echo "=== bound-installed"; menu "$installed"
        echo "=== bound-new"; menu "$brandnew"
        stop
        echo "=== state-bound"; cat "$state/install-once.json"; echo
        echo "=== bound-log"; grep -E 'stopped at its bound' "$log"
        # Then the journal unreadable (the daemon's user not in systemd-journal): what the
        # cut read and the menus did not learn is undecided, and boots its disk.
        ip netns exec "$ns" setpriv --reuid=nobody --regid=nogroup --clear-groups \\
            --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \\
            "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
            --http-port 8080 --state "$state" --events journal >>"$log" 2>&1 &
        daemon=$!
        for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        echo "=== closed-installed"; menu "$installed"
        echo "=== closed-rearmed"; menu "$rearmed"
        echo "=== closed-new"; menu "$brandnew"
        stop
        config=$shipped
        echo "=== daemon"; grep -E 'start-up read|install once' "$log"
        kill "$journald"; wait "$journald"
        """, extra: [Self.installed, Self.rearmed, Self.started, Self.brandNew, "\(Self.floodLines)"])
        let installer = "debian-13-auto", disk = "disque-local"
        let menuDefault = InstallOnceJournalTests.menuDefault
        func state(_ section: String) -> [String: Any]? {
            try? JSONSerialization.jsonObject(with: Data((out[section] ?? "").utf8)) as? [String: Any]
        }
        func machines(_ section: String) -> [String: [String: Any]] {
            (state(section)?["machines"] as? [String: [String: Any]]) ?? [:]
        }
        print("start-up read figures: READY without flood \(out["ready-ms-before"] ?? "?") ms; with \(out["flood-count"] ?? "?") installer lines (journal \(out["journal-size"] ?? "?")) \(out["ready-ms-flood"] ?? "?") ms; menu under flood \(out["ms-menu-flood"] ?? "?") ms; bound 1: \(out["ready-ms-bound"] ?? "?") ms\n\(out["read-before"] ?? "")\(out["read-flood"] ?? "")")

        #expect(Int((out["flood-count"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > Self.floodLines, "the whole flood is in the journal: \(context)")
        #expect(out["rearm"] == "200\n", "\(context)")
        // With the flood: read whole, not cut; the file rebuilt from the deciding events only.
        #expect(out["read-flood"]?.contains("start-up read of the journal done") == true, "\(context)")
        #expect(out["cut-flood"] == "0\n", "no read was cut by the flood: \(context)")
        let flood = machines("state-flood")
        #expect(flood[Self.installed]?["installed"] as? Bool == true, "\(context)")
        #expect(flood[Self.rearmed]?["installed"] as? Bool == false, "\(context)")
        #expect(flood[Self.started]?["installed"] as? Bool == false, "\(context)")
        #expect(flood.count == 3 && state("state-flood")?["incomplete"] as? Bool == false, "\(context)")
        #expect(menuDefault(out["menu-installed"]) == disk, "\(context)")
        #expect(menuDefault(out["menu-rearmed"]) == installer, "\(context)")
        #expect(menuDefault(out["menu-started"]) == installer, "\(context)")
        #expect(menuDefault(out["menu-new"]) == installer, "\(context)")
        // Past the bound: said, and the file is incomplete with the newest event only.
        #expect(out["bound-log"]?.contains("install once: the start-up read of the journal's deciding events stopped at its bound (more than 1 events") == true, "\(context)")
        #expect(out["bound-log"]?.contains("start-up read of the bench page's last 24 h stopped at its bound") == true, "\(context)")
        #expect(state("state-bound")?["incomplete"] as? Bool == true, "\(context)")
        #expect(machines("state-bound").keys.sorted() == [Self.installed, Self.started],
                "the newest deciding event, and the machine a menu looked up since: \(context)")
        // Each PC's own lookup still decides while the journal reads.
        #expect(menuDefault(out["bound-installed"]) == disk, "\(context)")
        #expect(menuDefault(out["bound-new"]) == installer, "\(context)")
        // The journal unreadable: learnt machines keep their decision; an unknown one fails closed.
        #expect(menuDefault(out["closed-installed"]) == disk, "\(context)")
        #expect(menuDefault(out["closed-rearmed"]) == disk, "never looked up since the cut read: undecided, \(context)")
        #expect(out["closed-rearmed"]?.contains("item --gap -- Etat d'installation inconnu") == true, "the menu says why: \(context)")
        #expect(menuDefault(out["closed-new"]) == disk, "\(context)")
    }
}
