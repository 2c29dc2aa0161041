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
        jgid=$(getent group systemd-journal | cut -d: -f3)
        start() {
            ip netns exec "$ns" setpriv --reuid=nobody --regid=nogroup --groups="$jgid" \\
                --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \\
                "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
                --http-port 8080 --events journal >>"$log" 2>&1 &
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
}
