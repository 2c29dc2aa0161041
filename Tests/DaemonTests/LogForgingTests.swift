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
        for _ in $(seq 1 1200); do grep -q 'garage-pxe started' "$work/daemon.log" 2>/dev/null && break; sleep 0.1; done
        ip netns exec "$peer" python3 -c 'import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(bytes.fromhex(sys.argv[1]), ("10.99.0.1", 67))' "$packet"
        for _ in $(seq 1 1200); do grep -q 'dhcp.ignored' "$work/daemon.log" && break; sleep 0.1; done
        kill "$daemon"; wait "$daemon"
        for _ in $(seq 1 1200); do
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
        // The daemon's levels map to 2 (critical) … 7 (debug); `<0>` and `<1>` are never its own.
        #expect(lines.allSatisfy { line in (2...7).contains { line.hasPrefix("<\($0)>") } }, "\(context)")
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

    /// An installer syslog line is the PC's own text: the journal keeps it exactly in its
    /// fields, and prints it escaped in MESSAGE and in `garage-pxe history`.
    @Test("an installer menu item holding ESC, CR LF and `<0>`: exact in GARAGE_PXE_STEP, one escaped line in MESSAGE and in history")
    func forgedInstallerStep() throws {
        let space = try DaemonWorkspace(prefix: "gpxls")
        defer { space.remove() }
        let item = "evil\u{1b}[2J\r\n<0>x"
        let mac = "52:54:00:1f:0e:02"
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4 mac=$5 datagram=$6
        base=http://10.99.0.1:8080
        ip netns exec "$ns" "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
            --http-port 8080 --user nobody --state "$images/../state" --events journal >"$images/../daemon.log" 2>&1 &
        daemon=$!
        for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        \(BenchPCs.functions)
        # The PC starts its install: its syslog lines count from its address.
        pc "$mac"; install "$mac"
        on "$mac" python3 -c 'import socket, sys
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(bytes.fromhex(sys.argv[1]), ("10.99.0.1", 514))' "$datagram"
        for _ in $(seq 1 1200); do
            journalctl -q -D /run/log/journal "GARAGE_PXE_MAC=$mac" GARAGE_PXE_EVENT=installer.step -o cat | grep -q . && break; sleep 0.1
        done
        kill "$daemon"; wait "$daemon"
        echo "=== json"; journalctl -q -D /run/log/journal -o json "GARAGE_PXE_MAC=$mac"
        echo "=== history"; "$bin" history "$mac" --directory /run/log/journal
        echo "=== daemon"; cat "$images/../daemon.log"
        """
        let datagram = Array("<14>main-menu[9]: INFO: Menu item '\(item)' selected".utf8).map { String(format: "%02x", $0) }.joined()
        let out = try underPrivateJournald(script, [space.ns.name, Repo.binary, Repo.path("config/garage-pxe.yaml"),
                                                    space.images.path, mac, datagram])
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        let entries = (out["json"] ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        // journalctl -o json prints a field that is not printable text as an array of bytes.
        func bytes(_ value: Any?) -> [UInt8]? {
            (value as? String).map { Array($0.utf8) } ?? (value as? [Int])?.map { UInt8($0) }
        }
        let step = try #require(entries.first { $0["GARAGE_PXE_EVENT"] as? String == "installer.step" }, "\(context)")
        #expect(bytes(step["GARAGE_PXE_STEP"]) == Array(item.utf8), "the field keeps the exact bytes:\n\(context)")
        #expect(step["MESSAGE"] as? String == #"installer.step 52:54:00:1f:0e:02 evil\x1b[2J\x0d\x0a<0>x (evil\x1b[2J\x0d\x0a<0>x)"#,
                "\(context)")
        let log = try #require(entries.first { $0["GARAGE_PXE_EVENT"] as? String == "installer.log" }, "\(context)")
        #expect(log["MESSAGE"] as? String == #"main-menu[9]: INFO: Menu item 'evil\x1b[2J\x0d\x0a<0>x' selected"#, "\(context)")
        #expect(!entries.contains { $0["PRIORITY"] as? String == "0" }, "\(context)")

        // history: one line per event, the item escaped.
        let history = out["history"] ?? ""
        #expect(!history.utf8.contains(0x1b) && !history.utf8.contains(0x0d), "\(context)")
        let lines = history.split(separator: "\n")
        #expect(lines.count == entries.count, "\(context)")
        #expect(lines.allSatisfy { $0.hasPrefix("20") }, "every line starts with its event's time:\n\(context)")
        // The step opened the machine's install (installer.started first): it carries its INSTALL_ID.
        #expect(lines.contains { $0.contains(#" installer.step step=evil\x1b[2J\x0d\x0a<0>x stage=evil\x1b[2J\x0d\x0a<0>x install_id="#) }, "\(context)")
    }
}
