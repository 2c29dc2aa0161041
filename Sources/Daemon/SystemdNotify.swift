// sd_notify(3) through libsystemd. Outside systemd (no NOTIFY_SOCKET) every call is a
// harmless no-op, so the daemon runs the same by hand and under a Type=notify unit.

import CSystemd
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

public enum SystemdNotify {
    public static func send(_ state: String) {
        _ = sd_notify(0, state)
    }

    public static func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public static func status(_ status: String) { send("STATUS=\(status)") }
    public static func stopping() { send("STOPPING=1") }

    /// RELOADING=1 with the monotonic timestamp that Type=notify-reload units require.
    public static func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    /// The watchdog interval systemd set (WatchdogSec=) for this process, if any.
    public static func watchdogIntervalMicroseconds() -> Int? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return Int(min(usec, UInt64(Int.max)))
    }
}
