import Foundation
import TestSupport

/// What the tests that run the real daemon under a private journald share.
enum PrivateJournald {
    /// Bash functions for scripts that run the real daemon in a DaemonWorkspace; they expect
    /// ns, bin, config, images and base to be set. `start` runs it the way its unit does:
    /// an unprivileged user (nobody) in the systemd-journal group (SupplementaryGroups=),
    /// with only CAP_NET_BIND_SERVICE (AmbientCapabilities=).
    static let daemonFunctions = """
        log=$images/../daemon.log
        # The daemon's state folder (install once's file) is the test's, never the host's /var/lib/garage-pxe.
        state=$images/../state
        mkdir -p "$state" && chown nobody:nogroup "$state"
        jgid=$(getent group systemd-journal | cut -d: -f3)
        start() {
            ip netns exec "$ns" setpriv --reuid=nobody --regid=nogroup --groups="$jgid" \\
                --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \\
                "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
                --http-port 8080 --state "$state" --events journal >>"$log" 2>&1 &
            daemon=$!
            for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        }
        stop() { kill "$daemon"; wait "$daemon"; }
        get() { ip netns exec "$ns" curl -s "$base/$1"; }
        menu() { get "boot.ipxe?mac=$1&platform=efi"; }
        # journald reads its socket on its own time: wait (bounded) until it holds N such events.
        waitfor() {
            for _ in $(seq 1 1200); do
                [ "$(journalctl -q -D /run/log/journal "GARAGE_PXE_MAC=$1" "GARAGE_PXE_EVENT=$2" -o cat | wc -l)" -ge "$3" ] && return 0
                sleep 0.1
            done
            echo "timed out waiting for $3 x $2 of $1"
        }
        """

    /// Runs `body` (bash, after `daemonFunctions`) in a fresh DaemonWorkspace under a private
    /// journald, with ns, bin, config, images and base set and `extra` as $5, $6…; returns
    /// its `=== name` sections and all of them as one text for failure messages.
    static func run(prefix: String, _ body: String, extra: [String]) throws -> (out: [String: String], context: String) {
        let space = try DaemonWorkspace(prefix: prefix)
        defer { space.remove() }
        let script = """
        set -u
        ns=$1 bin=$2 config=$3 images=$4
        base=http://10.99.0.1:8080
        \(daemonFunctions)
        \(body)
        """
        let out = try underPrivateJournald(script, [space.ns.name, Repo.binary, Repo.path("config/garage-pxe.yaml"), space.images.path] + extra,
                                           limit: 900)
        return (out, out.sorted { $0.key < $1.key }.map { "\($0.key):\n\($0.value)" }.joined(separator: "\n"))
    }
}
