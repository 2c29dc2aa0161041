// Whether a machine's last install finished, asked at each menu render.
//
// The journal is the truth: the daemon asks it, with a MAC match, for that machine's
// newest deciding event (InstallOnceState), read backwards from the tail. That is one
// sd_journal_open and one entry per menu shown — a PC asks for its menu once per boot, so
// this costs far less than keeping a cache coherent with writers we do not control: a
// `garage-pxe rearm` run from a shell writes straight to the journal and is seen at the
// machine's next boot, and nothing is lost on restart.
//
// What the daemon itself just wrote is also kept in memory, because journald reads its
// socket on its own time: the bench's rearm item chains to the menu at once, and that
// menu must already default to the installer. The newer of the two answers wins. If the
// journal cannot be read (the daemon's user is not in the systemd-journal group), the
// in-memory part still answers for this run and the problem is logged once.

import Foundation
import InstallJournal
import Logging

public final class InstallOnceTracker: @unchecked Sendable {
    public typealias Lookup = @Sendable (_ mac: String) throws(JournalReadError) -> JournalRecord?

    private let lookup: Lookup
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let lock = NSLock()
    // Guarded by `lock`.
    private var written: [String: (installed: Bool, microseconds: UInt64)] = [:]
    private var warnedUnreadable = false

    public init(logger: Logger, now: @escaping @Sendable () -> Date = Date.init,
                lookup: @escaping Lookup = { mac throws(JournalReadError) in try InstallOnceState.latestDecidingEvent(mac: mac) }) {
        self.logger = logger
        self.now = now
        self.lookup = lookup
    }

    /// The daemon wrote `kind` about `mac`; kinds that do not decide are ignored.
    public func noteWritten(_ kind: InstallEventKind, mac: String) {
        guard InstallOnceState.decidingKinds.contains(kind) else { return }
        let microseconds = UInt64(max(0, now().timeIntervalSince1970) * 1e6)
        lock.lock()
        written[mac] = (InstallOnceState.isInstalled(after: kind), microseconds)
        lock.unlock()
    }

    public func isInstalled(mac: String) -> Bool {
        var fromJournal: (installed: Bool, microseconds: UInt64)?
        do throws(JournalReadError) {
            if let record = try lookup(mac), let kind = record.kind {
                fromJournal = (InstallOnceState.isInstalled(after: kind), record.realtimeMicroseconds)
            }
        } catch {
            lock.lock()
            let warn = !warnedUnreadable
            warnedUnreadable = true
            lock.unlock()
            if warn {
                logger.warning("install once: cannot read the journal (\(error)); only this run's installs count. Add the daemon's user to the systemd-journal group (the unit does: SupplementaryGroups=systemd-journal)")
            }
        }
        lock.lock()
        let mine = written[mac]
        lock.unlock()
        // Our own write is stamped before journald stamps it: on a tie the journal's is the same event.
        guard let mine else { return fromJournal?.installed ?? false }
        guard let fromJournal, fromJournal.microseconds > mine.microseconds else { return mine.installed }
        return fromJournal.installed
    }
}
