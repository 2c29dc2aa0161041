// Started by hand as root, the daemon never binds or answers with root's rights. In two
// steps: before any socket is opened it takes the configured user's ids, keeping only
// CAP_NET_BIND_SERVICE (what the unit gives it) through a saved uid of 0; once every port
// is bound it lets the saved uid go too, which clears every capability of every thread.
// No service reads a request before that second step is done (ServingGate).
// Under systemd the unit starts it as that user directly, with CAP_NET_BIND_SERVICE as an
// ambient capability, and both steps are skipped.

import CCapabilities
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
        /// Binding as `user`; `finish()` drops the rest.
        case binding(user: String, uid: UInt32, gid: UInt32)
        /// `user: root` in the configuration: an admin's explicit choice, warned about.
        case keptRoot
    }

    /// Step one, before anything is bound: as root, becomes `user` (supplementary groups,
    /// group, then real and effective uid) with only CAP_NET_BIND_SERVICE left, on this
    /// thread and the threads it starts. A user that does not exist is an error saying how
    /// to create it; `root` (or any uid 0) is accepted and keeps root.
    ///
    /// The only supplementary group kept is `systemd-journal` (when it exists), as the unit's
    /// `SupplementaryGroups=` gives it: the daemon reads its own events back (bench page at
    /// start-up, install once), and without it a hand-started daemon would see only this run.
    public static func beginDrop(to user: String) throws(DropError) -> Outcome {
        guard geteuid() == 0 else { return .notRoot }
        guard let entry = getpwnam(user) else {
            throw DropError(description: "user '\(user)' does not exist: create it with "
                + "`adduser --system --group --no-create-home --home /nonexistent \(user)` (the Debian package and make install "
                + "create garage-pxe with systemd-sysusers), or set `user: root` to run as root knowingly")
        }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        if uid == 0 { return .keptRoot }
        var groups: [gid_t] = []
        if let journalGroup = getgrnam("systemd-journal") { groups.append(journalGroup.pointee.gr_gid) }
        guard setgroups(groups.count, groups) == 0 else { throw DropError(description: "setgroups: \(String(cString: strerror(errno)))") }
        guard garage_pxe_set_group_ids(gid) == 0 else { throw DropError(description: "setresgid(\(gid)): \(String(cString: strerror(errno)))") }
        // The saved uid stays 0, so the kernel keeps the permitted capabilities; the
        // effective ones are gone (euid is no longer 0) until the one needed is raised.
        guard garage_pxe_set_user_ids(uid, uid, 0) == 0 else { throw DropError(description: "setresuid(\(uid)): \(String(cString: strerror(errno)))") }
        guard garage_pxe_set_capabilities(garage_pxe_net_bind_service()) == 0 else {
            throw DropError(description: "capset(CAP_NET_BIND_SERVICE): \(String(cString: strerror(errno)))")
        }
        return .binding(user: user, uid: uid, gid: gid)
    }

    /// Step two, every port bound: the saved uid goes too. Glibc applies setresuid to every
    /// thread, and the last uid 0 leaving clears every capability on each.
    public static func finish(_ outcome: Outcome) throws(DropError) {
        guard case .binding(_, let uid, _) = outcome else { return }
        guard garage_pxe_set_user_ids(uid, uid, uid) == 0 else { throw DropError(description: "setresuid(\(uid)): \(String(cString: strerror(errno)))") }
        // Paranoia: regaining root must now be impossible.
        guard setuid(0) != 0 else { throw DropError(description: "could regain root after dropping privileges") }
    }
}
