// sd_notify(3) through libsystemd. Outside systemd (no NOTIFY_SOCKET) every call is a
// harmless no-op, so the daemon runs the same by hand and under a Type=notify unit.

import CSystemd

public enum SystemdNotify {
    public static func send(_ state: String) {
        _ = sd_notify(0, state)
    }

    public static func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public static func status(_ status: String) { send("STATUS=\(status)") }
    public static func stopping() { send("STOPPING=1") }
}
