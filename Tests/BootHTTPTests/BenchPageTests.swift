import BootHTTP
import Foundation
import InstallJournal
import Testing
import TestSupport

/// The bench page against the real daemon: events go to a private, real systemd-journald;
/// the daemon is restarted and must rebuild its view from that journal; the JSON API is
/// read with curl; the page is loaded in a real headless Chromium, driven through the
/// DevTools protocol, and a new boot request must show up in the open page without reload.
@Suite("bench page, real daemon, real journald, real Chromium", .serialized)
struct BenchPageTests {
    static let delivered = "52:54:00:be:0c:01"
    static let failed = "52:54:00:be:0c:02"
    static let newcomer = "52:54:00:be:0c:03"
    /// Its installer waits on anna's "package retrieval failed" dialog.
    static let stalled = "52:54:00:be:0c:04"
    /// Screenshots and logs of the last run stay here for a human to look at.
    static let runFolder = FileManager.default.temporaryDirectory.appendingPathComponent("garage-pxe-bench-page")

    /// `body` sections end with curl's status code on their last line.
    static func split(_ section: String?) -> (status: Int, body: Data) {
        let lines = (section ?? "").split(separator: "\n", omittingEmptySubsequences: true)
        guard let last = lines.last, let status = Int(last) else { return (0, Data()) }
        return (status, Data(lines.dropLast().joined(separator: "\n").utf8))
    }

    @Test("rebuilt from the journal after a restart, JSON API, and a live row in Chromium without reload")
    func benchPage() throws {
        let ns = try NetworkNamespace(prefix: "gpxbench")
        defer { ns.remove() }
        let fm = FileManager.default
        try? fm.removeItem(at: Self.runFolder)
        try fm.createDirectory(at: Self.runFolder, withIntermediateDirectories: true)
        let images = Self.runFolder.appendingPathComponent("images")
        try TestImages.create(in: images)
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 out=$5 driver=$6 a=$7 b=$8 c=$9 d=${10}
        base=http://10.99.0.1:8080
        daemon=
        \(BenchPCs.functions)
        trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; for n in "${pcns[@]}"; do ip netns delete "$n" 2>/dev/null; done' EXIT
        start() {
            ip netns exec "$ns" "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
                --http-port 8080 --user nobody --state "$images/../state" --events journal >>"$out/daemon.log" 2>&1 &
            daemon=$!
            for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        }
        stop() { kill "$daemon"; wait "$daemon"; daemon=; }
        get() { ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}\\n' "$base/$1"; }
        body() { ip netns exec "$ns" curl -s -w '\\n%{http_code}\\n' "$base/$1"; }
        # The PCs' own requests (their own address and MAC); the install token comes with the entry script.
        pget() { on "$1" curl -s -o /dev/null -w '%{http_code}\\n' "$base/$2"; }
        start
        pc "$a"; pc "$b"; pc "$c"; pc "$d"
        echo "=== requests"
        pget "$a" "boot.ipxe?mac=$a&platform=efi&buildarch=x86_64&serial=PF0ABC12&manufacturer=LENOVO&product=ThinkCentre%20M720q"
        install "$a"
        pget "$a" "progress?mac=$a&stage=partman&token=${token[$a]}"
        pget "$a" "progress?mac=$a&stage=finished&token=${token[$a]}"
        pget "$a" "progress?mac=$a&stage=first-boot&token=${token[$a]}"
        pget "$b" "boot.ipxe?mac=$b&platform=pcbios&serial=CZC1234XYZ&manufacturer=HP&product=EliteDesk%20800%20G2"
        install "$b"
        pget "$b" "progress?mac=$b&stage=partman&token=${token[$b]}"
        pget "$b" "progress?mac=$b&stage=failed&token=${token[$b]}"
        pget "$d" "boot.ipxe?mac=$d&platform=pcbios&serial=STUCK-4&manufacturer=FUJITSU&product=ESPRIMO%20P757"
        install "$d"
        # Its installer's line before the "Réessayer / Changer de miroir / Annuler" dialog, from
        # the PC's own address (anna's own words, as in the lab's real run).
        on "$d" logger --udp --server 10.99.0.1 --port 514 --rfc5424 -t anna --id=1833 -p user.warning \\
            "WARNING **: package retrieval failed"
        for _ in $(seq 1 1200); do
            journalctl -q -D /run/log/journal GARAGE_PXE_EVENT=installer.stalled -o cat | grep -q . && break; sleep 0.1
        done
        echo "=== live"; body api/machines
        stop
        # journald reads its socket on its own time: wait (bounded) for the last event.
        for _ in $(seq 1 1200); do
            journalctl -q -D /run/log/journal GARAGE_PXE_EVENT=installer.failed -o cat | grep -q . && break; sleep 0.1
        done
        start
        echo "=== restarted"; body api/machines
        echo "=== detail"; body "api/machines/52-54-00-BE-0C-02"
        echo "=== unknown"; body "api/machines/52:54:00:00:00:00"
        echo "=== invalid"; body "api/machines/not-a-mac"
        echo "=== others"; get nope; get api/nope; get boot.ipxe
        echo "=== page"; body ""
        echo "=== chromium"
        # Debian's python3: python3-websocket is an apt package.
        # From the new PC's own namespace: its menu request is its own, so its DMI fields count.
        on "$c" /usr/bin/python3 "$driver" "$base" "$out" \\
            "/boot.ipxe?mac=$c&platform=efi&serial=SN-NEW-3&manufacturer=Dell&product=OptiPlex%207050" "$c" \\
            "$(cat "$images/../state/admin-token")" "$a" 2>"$out/driver.log"
        stop
        for _ in $(seq 1 1200); do
            journalctl -q -D /run/log/journal GARAGE_PXE_EVENT=machine.rearmed -o cat | grep -q . && break; sleep 0.1
        done
        echo "=== rearmed"; journalctl -q -D /run/log/journal -o json GARAGE_PXE_EVENT=machine.rearmed
        echo "=== daemon"; cat "$out/daemon.log"
        """
        let out = try underPrivateJournald(script, [
            ns.name, Repo.binary, Repo.path("config/garage-pxe.yaml"), images.path, Self.runFolder.path,
            Repo.path("Tests/BootHTTPTests/bench-page-chromium.py"), Self.delivered, Self.failed, Self.newcomer, Self.stalled,
        ], limit: 900)
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        #expect(out["requests"]?.split(separator: "\n").allSatisfy { $0 == "200" } == true, "\(context)")

        // Fed live by the daemon's own writes, then rebuilt from the journal alone.
        for section in ["live", "restarted"] {
            let (status, body) = Self.split(out[section])
            #expect(status == 200, "\(section): \(context)")
            let list = try JSONDecoder().decode(BenchMachineList.self, from: body)
            #expect(list.machines.map(\.summary.mac).sorted() == [Self.delivered, Self.failed, Self.stalled], "\(section)")
            let a = try #require(list.machines.first { $0.summary.mac == Self.delivered })
            #expect(a.summary.result == "delivered" && a.stage == .machineDelivered && a.failure == nil, "\(section): \(a)")
            #expect(a.summary.serial == "PF0ABC12" && a.summary.product == "ThinkCentre M720q")
            let b = try #require(list.machines.first { $0.summary.mac == Self.failed })
            #expect(b.summary.result == "failed" && b.stage == .installerStep, "\(section): \(b)")
            #expect(b.failure?.event == "installer.failed" && b.failure?.step == "partman", "\(section): \(b)")
            let d = try #require(list.machines.first { $0.summary.mac == Self.stalled })
            #expect(d.summary.result == "stalled" && d.stage == .installerStep && d.failure == nil, "\(section): \(d)")
            #expect(d.summary.stalledReason == "téléchargement d'un composant depuis le miroir a échoué", "\(section): \(d)")
            #expect(list.stages.count == 10 && list.windowSeconds == 86_400)
        }
        let detail = Self.split(out["detail"])
        #expect(detail.status == 200, "\(context)")
        let machine = try JSONDecoder().decode(BenchMachineDetail.self, from: detail.body)
        #expect(machine.machine.summary.mac == Self.failed)
        #expect(machine.events.compactMap(\.kind?.rawValue) == ["menu.shown", "menu.chosen", "installer.started", "installer.step", "installer.failed"])
        #expect(Self.split(out["unknown"]).status == 404)
        #expect(Self.split(out["invalid"]).status == 400)
        #expect(String(decoding: Self.split(out["invalid"]).body, as: UTF8.self).contains("not a MAC address"))
        #expect(out["others"]?.split(separator: "\n") == ["404", "404", "200"], "the boot routes are untouched, the rest 404")
        let page = Self.split(out["page"])
        #expect(page.status == 200)
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(!html.contains("http://") && !html.contains("https://"), "no external resources")

        // The page in Chromium.
        let driver = try #require(out["chromium"]?.split(separator: "\n").last, "\(context)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(driver.utf8)) as? [String: Any], "\(context)")
        #expect(result["error"] is NSNull, "\(result)")
        let header = result["header"] as? [String] ?? []
        #expect(["Poste", "Étape", "Démarré", "Durée", "Résultat"].allSatisfy(header.contains), "\(header)")
        #expect(result["live"] as? String == "en direct", "\(result)")
        let before = result["before"] as? [[String: Any]] ?? []
        #expect(before.compactMap { $0["mac"] as? String }.sorted() == [Self.delivered, Self.failed, Self.stalled], "\(result)")
        let stalledRow = before.first { $0["mac"] as? String == Self.stalled }
        #expect(stalledRow?["stalled"] as? Bool == true && stalledRow?["failed"] as? Bool == false, "the stuck PC stands out: \(result)")
        #expect((stalledRow?["text"] as? String)?.contains("bloqué : téléchargement d'un composant depuis le miroir a échoué") == true, "\(result)")
        #expect((stalledRow?["text"] as? String)?.contains("Bloqué") == true, "\(result)")
        let failedRow = before.first { $0["mac"] as? String == Self.failed }
        #expect(failedRow?["failed"] as? Bool == true, "the failed machine is red: \(result)")
        #expect((failedRow?["text"] as? String)?.contains("Échec à l'étape « partman »") == true, "\(result)")
        let deliveredRow = before.first { $0["mac"] as? String == Self.delivered }
        #expect((deliveredRow?["text"] as? String)?.contains("Livré") == true, "\(result)")
        #expect(deliveredRow?["failed"] as? Bool == false)

        // The new machine's boot request reached the open page by itself.
        #expect(result["new_event_status"] as? Int == 200)
        let after = result["after"] as? [[String: Any]] ?? []
        let newRow = after.first { $0["mac"] as? String == Self.newcomer }
        #expect(newRow?["stage"] as? String == "menu.shown", "the new event appeared without reload: \(result)")
        #expect((newRow?["text"] as? String)?.contains("SN-NEW-3") == true, "\(result)")
        #expect(result["marker"] as? String == "same page", "no reload happened: \(result)")
        let screenshots = result["screenshots"] as? [String] ?? []
        #expect(screenshots.count == 2)
        for path in screenshots {
            let png = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "\(path): \(png.count) bytes")
        }
        // Re-arming from the page: a wrong token is refused and forgotten; the right one is
        // sent as a header, kept for the tab, and recorded as the bench page's.
        #expect((result["rearm_wrong_notice"] as? String)?.contains("refusé") == true, "\(result)")
        #expect(result["rearm_kept_after_wrong"] is NSNull, "\(result)")
        #expect((result["rearm_notice"] as? String)?.contains("réarmé") == true, "\(result)")
        #expect(result["rearm_kept"] as? Bool == true, "\(result)")
        let rearmed = (out["rearmed"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(rearmed.map { $0["GARAGE_PXE_MAC"] as? String } == [Self.delivered], "\(context)")
        #expect(rearmed.first?["GARAGE_PXE_REASON"] as? String == "bench page", "\(context)")
        #expect(!(out["daemon"] ?? "").contains("garage-pxe-event"), "nothing fell back to stderr")
    }
}
