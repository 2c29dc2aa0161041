import Foundation
import InstallJournal
import Testing
import TestSupport

/// SIGHUP with a new `installer.syslog_port` or a new `site`, on the real daemon in a
/// network namespace of its own, its events read back from a private journald (issue 14).
extension PrivateJournaldTests {
    /// The shipped config with `site` and `installer.syslog_port` set, in the workspace.
    static func reloadConfig(_ space: DaemonWorkspace) throws -> URL {
        let shipped = try String(contentsOfFile: Repo.path("config/garage-pxe.yaml"), encoding: .utf8)
        try #require(shipped.contains("site: \"Atelier Garage\"") && shipped.contains("syslog_port: 514\n")
                     && shipped.contains("menus: ../pxe-menus"),
                     "config/garage-pxe.yaml no longer has site \"Atelier Garage\", syslog_port 514 and menus ../pxe-menus")
        let config = space.work.appendingPathComponent("garage-pxe.yaml")
        try shipped.replacingOccurrences(of: "menus: ../pxe-menus", with: "menus: \(Repo.path("pxe-menus"))")
            .write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    /// Bash: edit the config with sed expression $1, SIGHUP, wait (bounded) for the reload's
    /// log lines: the configuration's, then the menus' (rendered with the new configuration).
    static let reloadFunction = """
        reload() {
            sed -i "$1" "$config"
            before=$(grep -c 'menus reloaded.*reason=SIGHUP' "$log")
            kill -HUP "$daemon"
            for _ in $(seq 1 1200); do
                [ "$(grep -c 'menus reloaded.*reason=SIGHUP' "$log")" -gt "$before" ] && grep -q 'configuration reloaded' "$log" && return 0
                grep -q 'reload refused' "$log" && break
                sleep 0.1
            done
            echo "=== reloadfailed"; echo "no 'configuration reloaded' and 'menus reloaded' within 120 s after SIGHUP"
        }
        """

    /// Runs `steps` (bash) between the daemon's start and stop in a fresh workspace with the
    /// shipped config, then prints the machine's events (`json`) and the daemon's log.
    static func runReload(prefix: String, _ steps: String) throws -> (out: [String: String], context: String) {
        let space = try DaemonWorkspace(prefix: prefix)
        defer { space.remove() }
        let config = try reloadConfig(space)
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 mac=$5
        base=http://10.99.0.1:8080
        \(PrivateJournald.daemonFunctions)
        \(BenchPCs.functions)
        \(reloadFunction)
        start
        \(steps)
        stop
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac"
        echo "=== reloaded"; journalctl -q -D /run/log/journal -o json GARAGE_PXE_EVENT=config.reloaded
        echo "=== daemon"; cat "$log"
        """
        let out = try underPrivateJournald(script, [space.ns.name, Repo.binary, config.path, space.images.path, mac])
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        #expect(out["reloadfailed"] == nil, "\(context)")
        return (out, context)
    }

    static func jsonLines(_ text: String?) -> [[String: Any]] {
        (text ?? "").split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test("installer.syslog_port changed and SIGHUP: the receiver moves to the new port, a line sent there is recorded, kernel command lines name it")
    func syslogPortReload() throws {
        let (out, context) = try Self.runReload(prefix: "gpxrp", """
            # The PC starts its install: its syslog lines count from its address.
            pc "$mac"; install "$mac"
            echo "=== entrybefore"; get "boot/debian-13-auto.ipxe?mac=$mac&platform=efi"
            reload 's/syslog_port: 514$/syslog_port: 5514/'
            echo "=== entryafter"; get "boot/debian-13-auto.ipxe?mac=$mac&platform=efi"
            on "$mac" logger --udp --server 10.99.0.1 --port 5514 -t main-menu -p user.info "INFO: Menu item 'pkgsel' selected"
            waitfor "$mac" installer.step 1
            # The old socket is closed by the receiver's queue: wait (bounded) until it is gone.
            for _ in $(seq 1 1200); do [ -z "$(ip netns exec "$ns" ss -Hlun 'sport = :514')" ] && break; sleep 0.1; done
            echo "=== old"; ip netns exec "$ns" ss -Hlun 'sport = :514'
            echo "=== new"; ip netns exec "$ns" ss -Hlun 'sport = :5514'
            """)

        // Before: the shipped port; after: the new one, in the kernel command line the PC gets.
        let before = try #require(out["entrybefore"], "no entry script before the reload:\n\(context)")
        let after = try #require(out["entryafter"], "no entry script after the reload:\n\(context)")
        #expect(before.contains("log_port=514 "), "\(context)")
        #expect(after.contains("log_port=5514 "), "\(context)")
        #expect(!after.contains("log_port=514 "), "\(context)")

        // The line sent to the new port: recorded as the machine's step.
        let steps = Self.jsonLines(out["json"]).filter { $0["GARAGE_PXE_EVENT"] as? String == "installer.step" }
        #expect(steps.map { $0["GARAGE_PXE_STEP"] as? String } == ["software"], "nothing recorded from the new port:\n\(context)")
        #expect(steps.first?["GARAGE_PXE_IP"] as? String == "10.98.1.2")

        // Listening on the new port only.
        #expect((out["old"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "port 514 still bound:\n\(context)")
        #expect(out["new"]?.contains("10.99.0.1:5514") == true, "\(context)")
        let daemon = out["daemon"] ?? ""
        #expect(daemon.contains("installer syslog moved"), "\(daemon)")
        #expect(daemon.contains("installer.syslog_port"), "the reload names the key it applied:\n\(daemon)")
        #expect(!daemon.contains("change only on restart"), "\(daemon)")
    }

    @Test("installer.syslog_port changed to a port another program holds: the receiver and the kernel command lines keep the old port, the log says why")
    func syslogPortReloadRefused() throws {
        let (out, context) = try Self.runReload(prefix: "gpxrf", """
            pc "$mac"; install "$mac"
            # Another program holds 10.99.0.1:5515 (bounded wait until it is bound).
            ip netns exec "$ns" python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.99.0.1", 5515)); time.sleep(300)' &
            holder=$!
            for _ in $(seq 1 1200); do [ -n "$(ip netns exec "$ns" ss -Hlun 'sport = :5515')" ] && break; sleep 0.1; done
            echo "=== held"; ip netns exec "$ns" ss -Hlun 'sport = :5515'
            reload 's/syslog_port: 514$/syslog_port: 5515/'
            echo "=== entryafter"; get "boot/debian-13-auto.ipxe?mac=$mac&platform=efi"
            on "$mac" logger --udp --server 10.99.0.1 --port 514 -t main-menu -p user.info "INFO: Menu item 'pkgsel' selected"
            waitfor "$mac" installer.step 1
            kill -KILL "$holder"; wait "$holder"
            """)
        #expect(out["held"]?.contains("10.99.0.1:5515") == true, "the port was not held before the reload:\n\(context)")
        let after = try #require(out["entryafter"], "no entry script after the reload:\n\(context)")
        #expect(after.contains("log_port=514 ") && !after.contains("log_port=5515"), "\(context)")
        let steps = Self.jsonLines(out["json"]).filter { $0["GARAGE_PXE_EVENT"] as? String == "installer.step" }
        #expect(steps.map { $0["GARAGE_PXE_STEP"] as? String } == ["software"], "nothing recorded from the old port:\n\(context)")
        let daemon = out["daemon"] ?? ""
        #expect(daemon.contains("cannot receive the installers' syslog on 10.99.0.1:5515"), "\(daemon)")
        #expect(!daemon.contains("changed=installer.syslog_port"), "\(daemon)")
    }

    @Test("site changed and SIGHUP: events written afterwards carry the new GARAGE_PXE_SITE, earlier ones the old")
    func siteReload() throws {
        let (out, context) = try Self.runReload(prefix: "gpxrs", """
            menu "$mac" >/dev/null
            waitfor "$mac" menu.shown 1
            reload 's/^site: "Atelier Garage"$/site: "Atelier du samedi"/'
            menu "$mac" >/dev/null
            waitfor "$mac" menu.shown 2
            """)

        let shown = Self.jsonLines(out["json"]).filter { $0["GARAGE_PXE_EVENT"] as? String == "menu.shown" }
        #expect(shown.map { $0["GARAGE_PXE_SITE"] as? String } == ["Atelier Garage", "Atelier du samedi"], "\(context)")
        let reloaded = Self.jsonLines(out["reloaded"])
        // The configuration's and the menus' reload events, both written after the change.
        #expect(!reloaded.isEmpty && reloaded.allSatisfy { $0["GARAGE_PXE_SITE"] as? String == "Atelier du samedi" }, "\(context)")
        #expect((out["daemon"] ?? "").contains("changed=site"), "the reload names the key it applied:\n\(context)")
    }
}
