import Foundation

/// Runs a bash script next to a private, real systemd-journald in its own mount namespace
/// (Tests/InstallJournalTests/private-journald.sh), so the host's journal never sees a test
/// event. Returns the script's output split on `=== name` lines.
public func underPrivateJournald(_ script: String, _ arguments: [String], limit: Double = 900) throws -> [String: String] {
    try underPrivateMounts(script, arguments, wrapper: [Repo.path("Tests/InstallJournalTests/private-journald.sh")], limit: limit)
}

/// Runs a bash script (behind `wrapper`, if any) in a mount namespace of its own, so what it
/// mounts (a private journald's tmpfs, a procfs with other options) never reaches the host
/// and vanishes when it exits. Returns the script's output split on `=== name` lines.
public func underPrivateMounts(_ script: String, _ arguments: [String], wrapper: [String] = [],
                               limit: Double = 900) throws -> [String: String] {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-script-\(getpid())-\(UInt32.random(in: 0..<1_000_000)).sh")
    try script.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let output = try run("/usr/bin/unshare", ["-m", "--propagation", "private"] + wrapper + ["/bin/bash", file.path] + arguments,
                         limit: limit).output
    var sections: [String: String] = [:]
    var current = "preamble"
    for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("=== ") { current = String(line.dropFirst(4)) } else { sections[current, default: ""] += line + "\n" }
    }
    return sections
}

/// What the tests that run the real daemon under a private journald share.
public enum PrivateJournald {
    /// Bash functions for scripts that run the real daemon in a DaemonWorkspace; they expect
    /// ns, bin, config, images and base to be set. `start` runs it the way its unit does:
    /// an unprivileged user (nobody) in the systemd-journal group (SupplementaryGroups=),
    /// with only CAP_NET_BIND_SERVICE (AmbientCapabilities=); `launch` runs it otherwise.
    public static let daemonFunctions = """
        log=$images/../daemon.log
        # The daemon's state folder (install once's file) is the test's, never the host's /var/lib/garage-pxe.
        state=$images/../state
        mkdir -p "$state" && chown nobody:nogroup "$state"
        jgid=$(getent group systemd-journal | cut -d: -f3)
        # launch [SETPRIV_OPTION…] [-- SERVE_OPTION…]: the daemon in $ns as nobody with only
        # CAP_NET_BIND_SERVICE, its output appended to ${dlog:-$log}; with $nosystemd set, without
        # the variables systemd gives a service (as when run from a shell). Returns once it answers HTTP.
        launch() {
            local privs=()
            while [ $# -gt 0 ] && [ "$1" != -- ]; do privs+=("$1"); shift; done
            [ $# -gt 0 ] && shift
            ip netns exec "$ns" env ${nosystemd:+-u JOURNAL_STREAM -u INVOCATION_ID} \\
                setpriv --reuid=nobody --regid=nogroup "${privs[@]}" --inh-caps=+net_bind_service --ambient-caps=+net_bind_service \\
                "$bin" serve --config "$config" --interface eth0 --tftp-root /usr/lib/ipxe --images "$images" \\
                --http-port 8080 --state "$state" "$@" >>"${dlog:-$log}" 2>&1 &
            daemon=$!
            for _ in $(seq 1 1200); do ip netns exec "$ns" curl -s -o /dev/null "$base/boot.ipxe" && break; sleep 0.1; done
        }
        start() { launch --groups="$jgid" -- --events journal; }
        stop() { kill "$daemon"; wait "$daemon"; }
        # gone PID: is it gone? A process this script started and killed stays a zombie
        # (state Z) until it is reaped.
        gone() { local s; s=$(cut -d' ' -f3 /proc/$1/stat 2>/dev/null) || return 0; [ "$s" = Z ]; }
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
    public static func run(prefix: String, _ body: String, extra: [String] = []) throws -> (out: [String: String], context: String) {
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
