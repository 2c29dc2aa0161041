// How many file descriptors the daemon may hold at once with its limits, so that a full
// HTTP connection cap never leaves TFTP, image opens or the journal without one (EMFILE
// fails them all together). The unit's LimitNOFILE= is sized from the same arithmetic.

#if canImport(Glibc)
import Glibc
#endif

public enum DescriptorBudget {
    /// An HTTP connection sending a file: its socket, the opened file, the file's
    /// duplicate that sendfile(2) writes from.
    static let perHTTPConnection = 3
    /// A TFTP transfer: its connected socket, that socket's SO_REUSEPORT twin, the file.
    static let perTFTPTransfer = 3
    /// Listening sockets, each event loop's epoll/eventfd/timerfd, the folder watcher,
    /// the journal's files (sd_journal_open opens every one it reads), the state files.
    static let fixed = 512

    public static func needed(_ limits: GaragePXEConfig.Limits) -> Int {
        limits.http.maxConnections * perHTTPConnection + limits.maxTFTPTransfers * perTFTPTransfer + fixed
    }

    /// Raises the soft RLIMIT_NOFILE (1024 for a daemon started by hand) up to the hard
    /// one when it is short of `needed`. Returns a warning when it stays short (the unit's
    /// seccomp filter refuses setrlimit: there LimitNOFILE= sets it).
    public static func ensure(_ limits: GaragePXEConfig.Limits) -> String? {
        let need = needed(limits)
        var current = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0, current.rlim_cur < rlim_t(need) else { return nil }
        var raised = current
        raised.rlim_cur = min(rlim_t(need), current.rlim_max)
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0, raised.rlim_cur >= rlim_t(need) { return nil }
        let now = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0 ? current.rlim_cur : 0
        return "open files limit is \(now), the limits need \(need) (\(limits.http.maxConnections) HTTP connections x \(perHTTPConnection) "
            + "+ \(limits.maxTFTPTransfers) TFTP transfers x \(perTFTPTransfer) + \(fixed)): raise LimitNOFILE= (ulimit -n) or lower limits.max_http_connections"
    }
}
