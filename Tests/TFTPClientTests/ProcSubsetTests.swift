import Foundation
import Testing
import TestSupport

/// The systemd unit's ProcSubset=pid mounts procfs with `subset=pid`, which removes
/// /proc/net (only /proc/self/net stays). The real daemon runs under such a /proc (its own
/// mount namespace), a PC in a second network namespace fetches its loader with tftp-hpa,
/// and the tftp.sent line must still carry the PC's MAC from the kernel's neighbour table.
@Suite("TFTP under ProcSubset=pid")
struct ProcSubsetTests {
    @Test("a TFTP client's MAC is found when /proc is mounted with subset=pid")
    func neighbourTableUnderProcSubset() throws {
        let space = try DaemonWorkspace(prefix: "gpxps")
        defer { space.remove() }
        let ns = space.ns, work = space.work
        let peer = try NetworkNamespace(prefix: "gpxpp", address: "10.98.0.1")
        defer { peer.remove() }
        try space.ns.plugPC(into: peer)
        let script = """
        set -u
        ns=$1 peer=$2 bin=$3 config=$4 work=$5
        if ! mount -t proc -o subset=pid proc /proc; then echo "=== missing"; echo "cannot mount procfs with subset=pid"; exit 0; fi
        if [ -e /proc/net ] || [ ! -e /proc/self/net/arp ]; then
            echo "=== missing"; echo "procfs subset=pid did not hide /proc/net or lacks /proc/self/net/arp"; exit 0
        fi
        ip netns exec "$ns" "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe \\
            --images "$work/images" --http-port 8080 --user nobody --events log --state "$work/state" >"$work/daemon.log" 2>&1 &
        daemon=$!
        for _ in $(seq 1 1200); do grep -q 'garage-pxe started' "$work/daemon.log" 2>/dev/null && break; sleep 0.1; done
        echo "=== tftp"; ip netns exec "$peer" timeout 120 /usr/bin/tftp 10.99.0.1 -m binary -c get undionly.kpxe "$work/got" 2>&1
        echo "=== peermac"; ip -n "$peer" -br link show pc0 | awk '{print $3}'
        for _ in $(seq 1 1200); do grep -q 'tftp.sent' "$work/daemon.log" && break; sleep 0.1; done
        kill "$daemon"; wait "$daemon"
        echo "=== daemon"; cat "$work/daemon.log"
        """
        let out = try underPrivateMounts(script, [ns.name, peer.name, Repo.binary, Repo.path("config/garage-pxe.yaml"), work.path],
                                         limit: 600)
        let context = out.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n")
        #expect(out["missing"] == nil, "precondition missing: \(out["missing"] ?? "")")
        let peerMAC = (out["peermac"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(peerMAC.count == 17, "\(context)")
        let sent = (out["daemon"] ?? "").split(separator: "\n").filter { $0.contains("tftp.sent") && $0.contains("file=undionly.kpxe") }
        #expect(sent.count == 1, "\(context)")
        #expect(sent.first?.contains("mac=\(peerMAC)") == true, "the MAC is read from /proc/self/net/arp:\n\(context)")
    }
}
