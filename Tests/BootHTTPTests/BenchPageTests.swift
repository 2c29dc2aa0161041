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
        ns=$1 bin=$2 config=$3 images=$4 out=$5 driver=$6 a=$7 b=$8 c=$9
        base=http://10.99.0.1:8080
        daemon=
        trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null' EXIT
        start() {
            ip netns exec "$ns" "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
                --http-port 8080 --user nobody --state "$images/../state" --events journal >>"$out/daemon.log" 2>&1 &
            daemon=$!
            for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        }
        stop() { kill "$daemon"; wait "$daemon"; daemon=; }
        get() { ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}\\n' "$base/$1"; }
        body() { ip netns exec "$ns" curl -s -w '\\n%{http_code}\\n' "$base/$1"; }
        start
        echo "=== requests"
        get "boot.ipxe?mac=$a&platform=efi&buildarch=x86_64&serial=PF0ABC12&manufacturer=LENOVO&product=ThinkCentre%20M720q"
        get "boot/debian-13-auto.ipxe?mac=$a&platform=efi"
        get "preseed/debian-13-auto.cfg?mac=$a"
        get "progress?mac=$a&stage=partman"
        get "progress?mac=$a&stage=finished"
        get "progress?mac=$a&stage=first-boot"
        get "boot.ipxe?mac=$b&platform=pcbios&serial=CZC1234XYZ&manufacturer=HP&product=EliteDesk%20800%20G2"
        get "boot/debian-13-auto.ipxe?mac=$b&platform=pcbios"
        get "preseed/debian-13-auto.cfg?mac=$b"
        get "progress?mac=$b&stage=partman"
        get "progress?mac=$b&stage=failed"
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
        ip netns exec "$ns" /usr/bin/python3 "$driver" "$base" "$out" \\
            "/boot.ipxe?mac=$c&platform=efi&serial=SN-NEW-3&manufacturer=Dell&product=OptiPlex%207050" "$c" 2>"$out/driver.log"
        stop
        echo "=== daemon"; cat "$out/daemon.log"
        """
        let out = try underPrivateJournald(script, [
            ns.name, Repo.binary, Repo.path("config/garage-pxe.yaml"), images.path, Self.runFolder.path,
            Repo.path("Tests/BootHTTPTests/bench-page-chromium.py"), Self.delivered, Self.failed, Self.newcomer,
        ], limit: 900)
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        #expect(out["requests"]?.split(separator: "\n").allSatisfy { $0 == "200" } == true, "\(context)")

        // Fed live by the daemon's own writes, then rebuilt from the journal alone.
        for section in ["live", "restarted"] {
            let (status, body) = Self.split(out[section])
            #expect(status == 200, "\(section): \(context)")
            let list = try JSONDecoder().decode(BenchMachineList.self, from: body)
            #expect(list.machines.map(\.summary.mac).sorted() == [Self.delivered, Self.failed], "\(section)")
            let a = try #require(list.machines.first { $0.summary.mac == Self.delivered })
            #expect(a.summary.result == "delivered" && a.stage == .machineDelivered && a.failure == nil, "\(section): \(a)")
            #expect(a.summary.serial == "PF0ABC12" && a.summary.product == "ThinkCentre M720q")
            let b = try #require(list.machines.first { $0.summary.mac == Self.failed })
            #expect(b.summary.result == "failed" && b.stage == .installerStep, "\(section): \(b)")
            #expect(b.failure?.event == "installer.failed" && b.failure?.step == "partman", "\(section): \(b)")
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
        #expect(before.compactMap { $0["mac"] as? String }.sorted() == [Self.delivered, Self.failed], "\(result)")
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
        #expect(!(out["daemon"] ?? "").contains("garage-pxe-event"), "nothing fell back to stderr")
    }
}
