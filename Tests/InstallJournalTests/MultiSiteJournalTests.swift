import Foundation
import InstallJournal
import Testing
import TestSupport

/// Two workshops, each with its own real journald and its own daemon (different SITE, different
/// machines); their journals are merged the way a network of sites does it, with the real
/// systemd-journal-remote, and read back with `--directory`.
@Suite("multi-site journals merged by systemd-journal-remote", .serialized)
struct MultiSiteJournalTests {
    static let sites = [("nord", "Atelier Nord", ["52:54:00:0a:00:01", "52:54:00:0a:00:02"]),
                        ("sud", "Atelier Sud", ["52:54:00:0b:00:01"])]

    @Test("machines and history over the merged journal: both sites, the right SITE, --site filters")
    func mergedSites() throws {
        let bench = try DaemonWorkspace(prefix: "gpxms")
        defer { bench.remove() }
        let merged = bench.work.appendingPathComponent("remote")
        try FileManager.default.createDirectory(at: merged, withIntermediateDirectories: true)
        let shipped = try String(contentsOfFile: Repo.path("config/garage-pxe.yaml"), encoding: .utf8)
        #expect(shipped.contains("site: \"Atelier Garage\"") && shipped.contains("menus: ../pxe-menus"))
        // Each site: a daemon, an install that finishes (the first machine), one that fails
        // (nord's second) or is delivered (sud's), then the journal shipped to the center.
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 out=$5 name=$6
        shift 6
        base=http://10.99.0.1:8080
        \(PrivateJournald.daemonFunctions)
        start
        for mac in "$@"; do
            menu "$mac" >/dev/null
            get "boot/debian-13-auto.ipxe?mac=$mac&platform=efi" >/dev/null
            get "preseed/debian-13-auto.cfg?mac=$mac" >/dev/null
        done
        get "progress?mac=$1&stage=finished" >/dev/null
        waitfor "$1" installer.finished 1
        if [ $# -gt 1 ]; then get "progress?mac=$2&stage=failed" >/dev/null; waitfor "$2" installer.failed 1
        else get "progress?mac=$1&stage=first-boot" >/dev/null; waitfor "$1" machine.delivered 1; fi
        stop
        # What systemd-journal-upload does over HTTPS, here through a pipe: the site's
        # entries in the export format, into a journal file at the center.
        journalctl -o export -D /run/log/journal | /lib/systemd/systemd-journal-remote -o "$out/remote-$name.journal" -
        echo "=== remote"; echo "status $?"
        echo "=== daemon"; cat "$log"
        """
        for (name, site, macs) in Self.sites {
            let config = bench.work.appendingPathComponent("\(name).yaml")
            try shipped.replacingOccurrences(of: "site: \"Atelier Garage\"", with: "site: \"\(site)\"")
                .replacingOccurrences(of: "menus: ../pxe-menus", with: "menus: \(Repo.path("pxe-menus"))")
                .write(to: config, atomically: true, encoding: .utf8)
            let out = try underPrivateJournald(script, [bench.ns.name, Repo.binary, config.path, bench.images.path, merged.path, name] + macs,
                                              limit: 900)
            #expect(out["remote"]?.contains("status 0") == true, "\(name): \(out)")
            #expect(FileManager.default.fileExists(atPath: merged.appendingPathComponent("remote-\(name).journal").path))
        }

        func cli(_ arguments: [String]) throws -> String {
            let result = try run(Repo.binary, arguments, allowFailure: true)
            #expect(result.status == 0, "\(arguments): \(result.output)")
            return result.output
        }
        func machines(_ extra: [String] = []) throws -> [MachineSummary] {
            try JSONDecoder().decode([MachineSummary].self, from: Data(try cli(["machines", "--json", "--directory", merged.path] + extra).utf8))
        }
        let all = try machines()
        #expect(Set(all.map(\.mac)) == ["52:54:00:0a:00:01", "52:54:00:0a:00:02", "52:54:00:0b:00:01"], "\(all)")
        let byMAC = Dictionary(uniqueKeysWithValues: all.map { ($0.mac, $0) })
        #expect(byMAC["52:54:00:0a:00:01"]?.site == "Atelier Nord")
        #expect(byMAC["52:54:00:0a:00:01"]?.result == "finished")
        #expect(byMAC["52:54:00:0a:00:02"]?.site == "Atelier Nord")
        #expect(byMAC["52:54:00:0a:00:02"]?.result == "failed")
        #expect(byMAC["52:54:00:0b:00:01"]?.site == "Atelier Sud")
        #expect(byMAC["52:54:00:0b:00:01"]?.result == "delivered")
        #expect(all.allSatisfy { $0.installCount == 1 })
        #expect(Set(try machines(["--site", "Atelier Nord"]).map(\.mac)) == ["52:54:00:0a:00:01", "52:54:00:0a:00:02"])
        #expect(try machines(["--site", "Atelier Sud"]).map(\.mac) == ["52:54:00:0b:00:01"])
        #expect(try machines(["--site", "Atelier Ouest"]).isEmpty)

        let history = try JSONDecoder().decode([JournalRecord].self,
                                               from: Data(try cli(["history", "52:54:00:0b:00:01", "--json", "--directory", merged.path]).utf8))
        #expect(history.compactMap(\.kind) == [.menuShown, .menuChosen, .installerStarted, .installerFinished, .machineDelivered], "\(history)")
        #expect(history.allSatisfy { $0[.site] == "Atelier Sud" })
        let table = try cli(["machines", "--directory", merged.path])
        #expect(table.split(separator: "\n").count == 4, "a header and three rows: \(table)")

        // The plain journalctl equivalents README gives.
        let nord = try run("/usr/bin/journalctl", ["-q", "-D", merged.path, "-o", "json", "GARAGE_PXE_SITE=Atelier Nord",
                                                   "GARAGE_PXE_EVENT=installer.finished", "GARAGE_PXE_EVENT=installer.failed"]).output
        let nordEvents = nord.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(nordEvents.compactMap { $0["GARAGE_PXE_MAC"] as? String }.sorted() == ["52:54:00:0a:00:01", "52:54:00:0a:00:02"], "\(nord)")
        let sudHistory = try run("/usr/bin/journalctl", ["-q", "-D", merged.path, "-o", "cat", "GARAGE_PXE_MAC=52:54:00:0b:00:01"]).output
        #expect(sudHistory.split(separator: "\n").count == history.count, "\(sudHistory)")
    }
}
