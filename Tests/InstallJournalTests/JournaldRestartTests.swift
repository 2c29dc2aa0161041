import Foundation
import Testing
import TestSupport

/// Issue 8, faults under load: the real daemon writes to a real systemd-journald (private,
/// in its own mount namespace) which is stopped and started again on the same directories;
/// the events produced while it was down reach the journal once it is back, in order, and
/// none goes to the daemon's stderr fallback.
@Suite("journald restart", .serialized)
struct JournaldRestartTests {
    static let mac = "52:54:00:ab:cd:08"
    static let downEvents = 20

    @Test("events written while journald is down land in the journal once it is back: zero lost, in order")
    func eventsSurviveJournaldRestart() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxjr", """
        mac=$5 down=$6
        \(BenchPCs.functions)
        start
        pc "$mac"; install "$mac"
        report "$mac" before >/dev/null
        waitfor "$mac" installer.step 1
        kill "$GARAGE_PXE_JOURNALD_PID"
        for _ in $(seq 1 1200); do gone "$GARAGE_PXE_JOURNALD_PID" && break; sleep 0.1; done
        gone "$GARAGE_PXE_JOURNALD_PID" || echo "journald did not stop"
        for i in $(seq 1 "$down"); do report "$mac" "down$i" >/dev/null; done
        /lib/systemd/systemd-journald >/dev/null 2>&1 &
        journald=$!
        waitfor "$mac" installer.step $((down + 1))
        report "$mac" after >/dev/null
        waitfor "$mac" installer.step $((down + 2))
        stop
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac"
        echo "=== daemon"; cat "$log"
        kill "$journald"; wait "$journald"
        """, extra: [Self.mac, String(Self.downEvents)])
        let stages = (out["json"] ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["GARAGE_PXE_STAGE"] as? String
        }
        #expect(stages == ["before"] + (1...Self.downEvents).map { "down\($0)" } + ["after"], "\(context)")
        #expect(!(out["daemon"] ?? "").contains("garage-pxe-event"), "nothing fell back to stderr: \(context)")
        #expect(!(out["preamble"] ?? "").contains("did not stop"), "\(context)")
    }
}
