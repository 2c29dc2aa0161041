// Started by hand as root, the daemon binds its privileged ports first and then becomes
// an unprivileged user: after that it needs no capability at all (every socket it will
// use is open). Under systemd the unit starts it as that user directly, with
// CAP_NET_BIND_SERVICE as an ambient capability, and this step is skipped.

#if canImport(Glibc)
import Glibc
#endif

public enum Privileges {
    public struct DropError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// What happened, for the start-up log line.
    public enum Outcome: Equatable, Sendable {
        case notRoot
        case dropped(user: String, uid: UInt32, gid: UInt32)
        case userMissing(String)
    }

    /// Switches to `user` (supplementary groups set, then group, then user) when running as
    /// root. Dropping uid 0 with setuid clears every capability, so nothing privileged
    /// remains. A missing user leaves us root and says so: `make install` and the Debian
    /// package create it with sysusers.
    ///
    /// The only supplementary group kept is `systemd-journal` (when it exists), as the unit's
    /// `SupplementaryGroups=` gives it: the daemon reads its own events back (bench page at
    /// start-up, install once), and without it a hand-started daemon would see only this run.
    public static func dropIfRoot(to user: String) throws(DropError) -> Outcome {
        guard geteuid() == 0 else { return .notRoot }
        guard let entry = getpwnam(user) else { return .userMissing(user) }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        var groups: [gid_t] = []
        if let journalGroup = getgrnam("systemd-journal") { groups.append(journalGroup.pointee.gr_gid) }
        guard setgroups(groups.count, groups) == 0 else { throw DropError(description: "setgroups: \(String(cString: strerror(errno)))") }
        // As root, setgid/setuid set the real, effective and saved ids together.
        guard setgid(gid) == 0 else { throw DropError(description: "setgid(\(gid)): \(String(cString: strerror(errno)))") }
        guard setuid(uid) == 0 else { throw DropError(description: "setuid(\(uid)): \(String(cString: strerror(errno)))") }
        // Paranoia: regaining root must now be impossible.
        guard setuid(0) != 0 else { throw DropError(description: "could regain root after dropping privileges") }
        return .dropped(user: user, uid: uid, gid: gid)
    }
}
