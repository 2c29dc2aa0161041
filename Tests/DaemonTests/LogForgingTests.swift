import DHCP
import Foundation
import Testing
import TestSupport

/// Log forging (issue 16): a PC controls its DHCP option 60, which the daemon logs. The real
/// daemon runs in a private network namespace, as under systemd (JOURNAL_STREAM set, so its
/// stderr lines start with the journald `<N>` priority), its stderr copied to a file and to
/// a private journald's stream (systemd-cat); a PC on the far end of its veth sends a
/// DISCOVER whose vendor class holds a newline, a forged `<0>` and a terminal escape.
@Suite("log forging, with the real daemon")
struct LogForgingTests {
    static let forged = "PXEClient\n<0>FORGED\u{1b}[2J"

    @Test("a DISCOVER with `PXEClient\\n<0>FORGED\\e[2J` in option 60 is one escaped warning line, in the log and in the journal")
    func forgedVendorClass() throws {
        let space = try DaemonWorkspace(prefix: "gpxlf")
        defer { space.remove() }
        let peer = try NetworkNamespace(prefix: "gpxlp", address: "10.98.0.1")
        defer { peer.remove() }
        // An architecture the daemon has no loader for: logged at warning, with the vendor class.
        let discover = DHCPPacket(op: .request, xid: 0x1f0e, chaddr: [0x52, 0x54, 0, 0x1f, 0x0e, 0x01], options: [
            DHCPOption(.messageType, [DHCPMessageType.discover.rawValue]), DHCPOption(.clientSystemArchitecture, [0x12, 0x34]),
            DHCPOption(.vendorClassIdentifier, Array(Self.forged.utf8)),
        ])
        let hex = discover.serialize().map { String(format: "%02x", $0) }.joined()
        try space.ns.plugPC(into: peer)
        let script = """
        set -u
        ns=$1 peer=$2 bin=$3 config=$4 work=$5 packet=$6
        ip netns exec "$ns" env JOURNAL_STREAM=0:0 "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe \\
            --images "$work/images" --http-port 8080 --user nobody --events log \\
            2> >(tee "$work/daemon.log" | systemd-cat -t gpx-log-forging) &
        daemon=$!
        for _ in $(seq 1 200); do grep -q 'garage-pxe started' "$work/daemon.log" 2>/dev/null && break; sleep 0.1; done
        ip netns exec "$peer" python3 -c 'import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(bytes.fromhex(sys.argv[1]), ("10.99.0.1", 67))' "$packet"
        for _ in $(seq 1 100); do grep -q 'dhcp.ignored' "$work/daemon.log" && break; sleep 0.1; done
        kill "$daemon"; wait "$daemon"
        for _ in $(seq 1 100); do
            journalctl -q -D /run/log/journal -t gpx-log-forging -o cat | grep -q 'garage-pxe stopped' && break; sleep 0.1
        done
        echo "=== journal"; journalctl -q -D /run/log/journal -t gpx-log-forging -o json
        """
        let out = try underPrivateJournald(script, [space.ns.name, peer.name, Repo.binary, Repo.path("config/garage-pxe.yaml"),
                                                    space.work.path, hex])
        let log = try Data(contentsOf: space.work.appendingPathComponent("daemon.log"))
        let context = "stderr:\n\(String(decoding: log, as: UTF8.self))\n" + out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")

        // stderr, byte by byte: no ESC, no CR, every line with the daemon's own priority.
        #expect(!log.contains(0x1b), "an ESC reached stderr:\n\(context)")
        #expect(!log.contains(0x0d), "a CR reached stderr:\n\(context)")
        let lines = log.split(separator: 0x0a).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines.contains { $0.hasPrefix("<6>") }, "\(context)")
        #expect(lines.allSatisfy { $0.hasPrefix("<4>") || $0.hasPrefix("<5>") || $0.hasPrefix("<6>") }, "\(context)")
        #expect(!lines.contains { $0.hasPrefix("<0>") }, "\(context)")
        let escaped = #"vendor_class=PXEClient\x0a<0>FORGED\x1b[2J"#
        let ignored = lines.filter { $0.contains("dhcp.ignored") }
        #expect(ignored.count == 1, "\(context)")
        #expect(ignored.first?.hasPrefix("<4>dhcp.ignored ") == true, "\(context)")
        #expect(ignored.first?.contains(escaped) == true, "\(context)")

        // journald's view of the same stream: one entry, at warning, MESSAGE on one line.
        let entries = (out["journal"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(entries.contains { ($0["MESSAGE"] as? String)?.hasPrefix("garage-pxe stopped") == true }, "\(context)")
        #expect(!entries.contains { $0["PRIORITY"] as? String == "0" }, "\(context)")
        #expect(entries.allSatisfy { $0["MESSAGE"] is String }, "a MESSAGE journald stored as bytes (controls in it):\n\(context)")
        let stored = entries.filter { ($0["MESSAGE"] as? String)?.contains("dhcp.ignored") == true }
        #expect(stored.count == 1, "\(context)")
        #expect(stored.first?["PRIORITY"] as? String == "4", "\(context)")
        #expect((stored.first?["MESSAGE"] as? String)?.contains(escaped) == true, "\(context)")
    }
}
