import Foundation
import InstallJournal
import Testing
import TestSupport

/// The README's multi-site setup as two workshops and a central machine run it: each site's
/// real daemon writes to its own private journald, the real `systemd-journal-upload` ships
/// that journal over HTTPS (client certificates, a CA the test makes) to one real
/// `systemd-journal-remote` on loopback, and `machines`/`history --directory` answer across
/// both sites. The central side goes down while a site keeps working: the upload fails, the
/// events wait in the site's journal, and the next upload (resuming from its `--save-state`
/// cursor) delivers each of them exactly once.
@Suite("multi-site: systemd-journal-upload over HTTPS to systemd-journal-remote", .serialized,
       .enabled(if: getuid() == 0, "needs root: network namespaces, private journald mounts"))
struct MultiSiteUploadTests {
    /// name, site, (MAC, DMI serial) of its PCs.
    static let sites = [("nord", "Atelier Nord", [("52:54:00:0c:00:01", "NORD-SN-1"), ("52:54:00:0c:00:02", "NORD-SN-2")]),
                        ("sud", "Atelier Sud", [("52:54:00:0d:00:01", "SUD-SN-1")])]

    /// What an admin makes once: a CA, the central's server certificate (for the name the
    /// sites' URL uses, here 127.0.0.1) and one client certificate per site (its CN names it);
    /// and a CA that signed none of them, to show a site refuses a server it cannot verify.
    static let makeCertificates = """
        set -eu
        pki=$1; shift
        mkdir -p "$pki"; cd "$pki"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=garage-pxe test CA" 2>/dev/null
        sign() {  # sign NAME CN EXTENSIONS
            openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
            printf '%b' "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
        }
        sign central 127.0.0.1 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n'
        for site in "$@"; do sign "$site" "$site" 'extendedKeyUsage=clientAuth\\n'; done
        openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj "/CN=another CA" 2>/dev/null
        echo ok
        """

    /// The central machine: systemd-journal-remote over HTTPS, one file per sending host in
    /// `$work/central/`. No `--trust`: Debian 12's journal-remote is built without it
    /// ("Option --trust is not available"), so it cannot check the sites' client
    /// certificates; the sites check the central's certificate against the CA. It outlives the site script that starts
    /// it, so it is stopped by its PID (from central.pid), waiting until it has exited (its
    /// parent may be gone: an exited, unreaped process counts as stopped).
    static let centralFunctions = """
        central_start() {
            # It outlives this script: it must not hold the test runner's descriptors (its
            # output pipe stays open until every holder has exited), so all but 0-2 are closed.
            (for fd in $(ls "/proc/$BASHPID/fd"); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
             exec /lib/systemd/systemd-journal-remote --listen-https="127.0.0.1:$port" --key="$work/pki/central.key" \\
                --cert="$work/pki/central.pem" --output="$work/central/" --split-mode=host \\
                </dev/null >>"$work/central.log" 2>&1) &
            echo $! >"$work/central.pid"
            for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
            echo "central did not listen on $port"
        }
        central_stop() {
            local pid; pid=$(cat "$work/central.pid") || return 0
            kill "$pid"
            for _ in $(seq 1 600); do
                [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
                sleep 0.1
            done
            rm -f "$work/central.pid"
        }
        # events SITE [DIR]: the site's GARAGE_PXE events as "time kind mac" lines, sorted.
        events() {
            journalctl -q ${2:+-D "$2"} "GARAGE_PXE_SITE=$1" -o json | python3 -c 'import json, sys
        for e in map(json.loads, sys.stdin):
            if "GARAGE_PXE_EVENT" in e: print(e["__REALTIME_TIMESTAMP"], e["GARAGE_PXE_EVENT"], e.get("GARAGE_PXE_MAC", "-"))' | sort
        }
        """

    @Test("two sites ship their journals over HTTPS; machines and history answer across both; an outage loses and duplicates nothing")
    func uploadToCentral() throws {
        let bench = try DaemonWorkspace(prefix: "gpxup")
        defer { bench.remove() }
        let work = bench.work
        let central = work.appendingPathComponent("central")
        try FileManager.default.createDirectory(at: central, withIntermediateDirectories: true)
        let port = String(Int.random(in: 40_000..<50_000))
        let pki = try run("/bin/bash", ["-c", Self.makeCertificates, "pki", work.appendingPathComponent("pki").path] + Self.sites.map(\.0))
        #expect(pki.output.hasSuffix("ok\n"), "\(pki.output)")
        let stopCentral = "work=$1\n\(Self.centralFunctions)\ncentral_stop"
        defer { _ = try? run("/bin/bash", ["-c", stopCentral, "stop", work.path], allowFailure: true) }

        let shipped = try String(contentsOfFile: Repo.path("config/garage-pxe.yaml"), encoding: .utf8)
        // Each site: its daemon, PCs booting (iPXE sends their DMI serial) and installing,
        // and systemd-journal-upload as its unit runs it (resuming from its state file), here
        // run once per shipment (--follow=no) so the test knows when a shipment is over.
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 work=$5 name=$6 site=$7 port=$8
        shift 8
        base=http://10.99.0.1:8080
        \(PrivateJournald.daemonFunctions)
        \(BenchPCs.functions)
        \(Self.centralFunctions)
        upload() {  # upload [CA]: one shipment of everything after the saved cursor.
            timeout 120 /lib/systemd/systemd-journal-upload --url="https://127.0.0.1:$port" --key="$work/pki/$name.key" \\
                --cert="$work/pki/$name.pem" --trust="$work/pki/${1:-ca}.pem" --directory=/run/log/journal \\
                --save-state="$work/$name.upload-state" --follow=no >>"$work/$name.upload.log" 2>&1
            echo "upload $?"
        }
        boot() {  # boot MAC SERIAL: the PC's iPXE asks for its menu, then starts the auto-install.
            pc "$1"
            pcget "$1" "boot.ipxe?mac=$1&platform=efi&manufacturer=LENOVO&product=ThinkPad%20T480&serial=$2" >/dev/null
            install "$1"
        }
        [ -e "$work/central.pid" ] || central_start
        start
        echo "=== shipments"
        if [ "$name" = nord ]; then
            boot "$1" "$2"; boot "$3" "$4"
            report "$1" finished >/dev/null; waitfor "$1" installer.finished 1
            upload
            # The central side goes down; the workshop keeps working and its upload fails.
            central_stop
            report "$3" failed >/dev/null; waitfor "$3" installer.failed 1
            stop
            upload
            # Back up: the next upload resumes after the last cursor it saved.
            central_start
            upload
        else
            boot "$1" "$2"
            report "$1" finished >/dev/null; waitfor "$1" installer.finished 1
            report "$1" first-boot >/dev/null; waitfor "$1" machine.delivered 1
            stop
            # A server whose certificate the site cannot verify gets nothing.
            upload other-ca
            upload
        fi
        echo "=== site-events"; events "$site" /run/log/journal
        echo "=== upload-log"; cat "$work/$name.upload.log"
        echo "=== daemon"; cat "$log"
        """
        var siteEvents: [String: String] = [:]
        for (name, site, pcs) in Self.sites {
            let config = work.appendingPathComponent("\(name).yaml")
            try shipped.replacingOccurrences(of: "site: \"Atelier Garage\"", with: "site: \"\(site)\"")
                .replacingOccurrences(of: "menus: ../pxe-menus", with: "menus: \(Repo.path("pxe-menus"))")
                .write(to: config, atomically: true, encoding: .utf8)
            let out = try underPrivateJournald(script, [bench.ns.name, Repo.binary, config.path, bench.images.path, work.path, name, site, port]
                                                   + pcs.flatMap { [$0.0, $0.1] }, limit: 900)
            let context = out.sorted { $0.key < $1.key }.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
            // nord: shipped, refused while the central side is down, shipped after it;
            // sud: refused to a server it cannot verify, then shipped.
            let expected = name == "nord" ? "upload 0\nupload 1\nupload 0\n" : "upload 1\nupload 0\n"
            #expect(out["shipments"]?.replacingOccurrences(of: "upload [1-9][0-9]*", with: "upload 1", options: .regularExpression) == expected,
                    "\(name): \(context)")
            siteEvents[site] = out["site-events"] ?? ""
            #expect(siteEvents[site]?.contains("installer.finished") == true, "\(name): \(context)")
        }
        _ = try run("/bin/bash", ["-c", stopCentral, "stop", work.path], allowFailure: true)

        // Every event of each site arrived: the same (time, kind, MAC) lines at the center. The
        // raw files may hold one entry twice: journal-upload 252 sends the entry at its saved
        // cursor again when it resumes (nord resumed once); garage-pxe reads it once (below).
        for (_, site, _) in Self.sites {
            let atCenter = try run("/bin/bash", ["-c", "work=$1\n\(Self.centralFunctions)\nevents \"$2\" \"$work/central\"", "events", work.path, site]).output
            let (center, local) = (atCenter.split(separator: "\n"), (siteEvents[site] ?? "").split(separator: "\n"))
            #expect(!center.isEmpty && Set(center) == Set(local), "\(site): center\n\(atCenter)\nsite\n\(siteEvents[site] ?? "")")
            #expect(center.count - Set(center).count <= (site == "Atelier Nord" ? 1 : 0), "\(site): \(atCenter)")
        }
        let nordWhileDown = siteEvents["Atelier Nord"]?.split(separator: "\n").filter { $0.hasSuffix("installer.failed 52:54:00:0c:00:02") }
        #expect(nordWhileDown?.count == 1, "the event written while the central side was down: \(siteEvents)")

        func cli(_ arguments: [String]) throws -> String {
            let result = try run(Repo.binary, arguments, allowFailure: true)
            #expect(result.status == 0, "\(arguments): \(result.output)")
            return result.output
        }
        func machines(_ extra: [String] = []) throws -> [MachineSummary] {
            try JSONDecoder().decode([MachineSummary].self, from: Data(try cli(["machines", "--json", "--directory", central.path] + extra).utf8))
        }
        let all = try machines()
        let byMAC = Dictionary(all.map { ($0.mac, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(Set(all.map(\.mac)) == ["52:54:00:0c:00:01", "52:54:00:0c:00:02", "52:54:00:0d:00:01"], "\(all)")
        #expect(byMAC["52:54:00:0c:00:01"]?.site == "Atelier Nord" && byMAC["52:54:00:0c:00:01"]?.result == "finished")
        #expect(byMAC["52:54:00:0c:00:02"]?.site == "Atelier Nord" && byMAC["52:54:00:0c:00:02"]?.result == "failed")
        #expect(byMAC["52:54:00:0d:00:01"]?.site == "Atelier Sud" && byMAC["52:54:00:0d:00:01"]?.result == "delivered")
        #expect(all.allSatisfy { $0.installCount == 1 }, "\(all)")
        #expect(Set(try machines(["--site", "Atelier Nord"]).map(\.mac)) == ["52:54:00:0c:00:01", "52:54:00:0c:00:02"])
        #expect(try machines(["--site", "Atelier Sud"]).map(\.mac) == ["52:54:00:0d:00:01"])

        // Each PC's history at the center is its site's events, each exactly once.
        for (_, site, pcs) in Self.sites {
            for (mac, _) in pcs {
                let records = try JSONDecoder().decode([JournalRecord].self, from: Data(try cli(["history", mac, "--json", "--directory", central.path]).utf8))
                let lines = records.map { "\($0.realtimeMicroseconds) \($0[.event] ?? "-") \($0[.mac] ?? "-")" }
                #expect(lines == (siteEvents[site] ?? "").split(separator: "\n").map(String.init).filter { $0.hasSuffix(" " + mac) },
                        "\(mac): \(lines)\nsite: \(siteEvents[site] ?? "")")
            }
        }
        let nordFirst = try JSONDecoder().decode([JournalRecord].self, from: Data(try cli(["history", "NORD-SN-1", "--json", "--directory", central.path]).utf8))
        #expect(nordFirst.compactMap(\.kind) == [.menuShown, .menuChosen, .installerStarted, .installerFinished], "\(nordFirst)")

        // A PC found by its DMI serial, whichever site it went through.
        let sud = try JSONDecoder().decode([JournalRecord].self, from: Data(try cli(["history", "SUD-SN-1", "--json", "--directory", central.path]).utf8))
        #expect(sud.compactMap(\.kind) == [.menuShown, .menuChosen, .installerStarted, .installerFinished, .machineDelivered], "\(sud)")
        #expect(sud.allSatisfy { $0[.site] == "Atelier Sud" })
        let nord = try JSONDecoder().decode([JournalRecord].self, from: Data(try cli(["history", "NORD-SN-2", "--json", "--directory", central.path]).utf8))
        #expect(nord.compactMap(\.kind) == [.menuShown, .menuChosen, .installerStarted, .installerFailed], "\(nord)")
        #expect(nord.allSatisfy { $0[.mac] == "52:54:00:0c:00:02" && $0[.site] == "Atelier Nord" })
    }
}
