// Whether a machine's last install finished, asked at each menu render.
//
// Two sources, newest deciding event wins:
// - the journal, the record: for each menu the daemon asks it, with a MAC match, for that
//   machine's newest deciding event (InstallOnceState), one entry read backwards from the
//   tail. A `garage-pxe rearm` run from a shell writes straight to the journal and is seen
//   at the machine's next boot.
// - the state file (InstallOnceStore, `paths.state`/install-once.json), the decision's
//   durable copy: every deciding event the daemon writes or reads goes in it, so a machine
//   stays installed when the journal cannot be read, or its event was vacuumed or
//   rate-limited away. Read at start, rebuilt from the journal when missing or corrupt.
//   That start-up read asks only for the deciding events (a MESSAGE_ID match: a flood of
//   installer lines is never visited), newest first, within `limits.startup_read_events`
//   and `limits.startup_read_seconds`; past them the file keeps what was read and is
//   marked incomplete, and that is logged.
//
// Install once fails closed: a machine neither source can decide about (the state file
// was lost and the journal cannot be read) gets the local disk by default, with the
// reason in its menu. A machine absent from a readable journal, or from a complete state
// file, is brand-new and gets the usual default (the auto-install).
//
// The journal is read on NIO's blocking thread pool (BlockingWork), never on an HTTP
// event loop or in a route handler's task.

import BootMenus
import Dispatch
import Foundation
import InstallJournal
import Logging

public final class InstallOnceTracker: @unchecked Sendable {
    public typealias Lookup = @Sendable (_ mac: String) throws(JournalReadError) -> JournalRecord?
    public typealias ReadAll = @Sendable () throws(JournalReadError) -> BoundedJournalRead

    /// The menu's line (iPXE shows ASCII) when the decision cannot be made.
    public static let undecidedReason = "Etat d'installation inconnu (journal illisible, pas de fichier d'etat) : disque local par defaut."

    private let lookup: Lookup
    private let readAll: ReadAll
    private let store: InstallOnceStore?
    /// false: the daemon records no events (`--events log`, no journal): install once is
    /// off, as the daemon says at start. The file is then only read, and an undecided
    /// machine gets its usual default (failing closed would put every PC on its disk
    /// with no way to record a rearm).
    private let recording: Bool
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let lock = NSLock()
    private let saveQueue = DispatchQueue(label: "garage-pxe.install-once.save")
    // Guarded by `lock`.
    private var snapshot = InstallOnceSnapshot()
    private var warnedUnreadable = false
    private var warnedUnwritable = false
    private var undecidable: String?

    public static let defaultLookup: Lookup = { mac throws(JournalReadError) in
        try JournalReader.ensureReadable()
        return try InstallOnceState.latestDecidingEvent(mac: mac)
    }

    /// The start-up read: every deciding event, newest first, within `bound`.
    public static func journalReadAll(within bound: JournalReadBound) -> ReadAll {
        { () throws(JournalReadError) in
            try JournalReader.ensureReadable()
            return try JournalReader.readNewest(JournalQuery(kinds: InstallOnceState.decidingKinds), within: bound)
        }
    }

    /// The daemon's default bound (limits.startup_read_events, limits.startup_read_seconds).
    public static let defaultReadBound = JournalReadBound(maxRecords: 50_000, maxSeconds: 15)

    /// `store` nil: no state file (decisions last for this run only).
    public init(logger: Logger, store: InstallOnceStore? = nil, recording: Bool = true, now: @escaping @Sendable () -> Date = Date.init,
                lookup: @escaping Lookup = InstallOnceTracker.defaultLookup,
                readAll: @escaping ReadAll = InstallOnceTracker.journalReadAll(within: InstallOnceTracker.defaultReadBound)) {
        self.logger = logger
        self.store = store
        self.recording = recording
        self.now = now
        self.lookup = lookup
        self.readAll = readAll
    }

    /// At start: the state file, brought up to date with the journal; rebuilt from the
    /// journal when missing or corrupt. Neither readable: every machine not decided during
    /// this run defaults to its local disk (logged as an error).
    public func load() {
        guard let store else { return }
        var fromFile: InstallOnceSnapshot?
        var fileProblem = "\(store.path) does not exist"
        do throws(InstallOnceStoreError) {
            fromFile = try store.load()
        } catch {
            fileProblem = error.description
            logger.error("install once: \(error); rebuilding it from the journal")
        }
        var records: [JournalRecord]?
        var journalProblem = ""
        var cutShort: String?
        do throws(JournalReadError) {
            let read = try readAll()
            records = read.records
            cutShort = read.cutShort
        } catch {
            journalProblem = error.description
        }
        let capacity = store.capacity
        let (changed, count) = lock.withLock { () -> (Bool, Int) in
            var changed = false
            if let fromFile {
                snapshot = fromFile
                if let records { changed = snapshot.record(records, capacity: capacity) }
            } else if let records {
                snapshot = .rebuilt(from: records, capacity: capacity)
                // Only the newest deciding events were read: a machine absent may be installed.
                if cutShort != nil { snapshot.incomplete = true }
                changed = true
            } else {
                snapshot = InstallOnceSnapshot(incomplete: true)
                changed = true
            }
            return (changed, snapshot.machines.count)
        }
        if let cutShort {
            // Each menu still asks the journal for its machine's own newest deciding event
            // (one entry, read backwards): only a machine that lookup cannot answer either
            // falls back on this file, and, absent from it, on its local disk.
            let source = fromFile != nil ? "\(store.path) and the \(records?.count ?? 0) newest read" : "the \(records?.count ?? 0) newest (\(store.path) marked incomplete)"
            logger.error("install once: the start-up read of the journal's deciding events stopped at its bound (\(cutShort); limits.startup_read_events, limits.startup_read_seconds): deciding from \(source) and each PC's own journal lookup; a PC neither can tell defaults to its local disk")
        }
        switch (fromFile != nil, records != nil) {
        case (true, true):
            logger.info("install once: \(count) machines in \(store.path)")
        case (true, false):
            warnUnreadable(journalProblem, decidingFrom: "\(store.path) (\(count) machines)")
        case (false, true):
            logger.notice("install once: \(store.path) rebuilt from the journal (\(count) machines)")
        case (false, false) where !recording:
            logger.warning("install once: \(fileProblem), and the journal cannot be read (\(journalProblem)); events are not recorded, so install once is off")
        case (false, false):
            let problem = "install once cannot decide: \(fileProblem), and the journal cannot be read (\(journalProblem)): every PC not installed or rearmed during this run defaults to its local disk, and its menu says why. Add the daemon's user to the systemd-journal group, then restart."
            logger.error("\(problem)")
            lock.withLock {
                warnedUnreadable = true
                undecidable = problem
            }
        }
        if changed { persist() }
    }

    /// The daemon wrote `kind` about `mac`; kinds that do not decide are ignored.
    public func noteWritten(_ kind: InstallEventKind, mac: String, installID: String? = nil) {
        guard InstallOnceState.decidingKinds.contains(kind) else { return }
        let microseconds = UInt64(max(0, now().timeIntervalSince1970) * 1e6)
        let entry = InstallOnceEntry(installed: InstallOnceState.isInstalled(after: kind), installID: installID, microseconds: microseconds)
        let changed = lock.withLock { snapshot.record(mac: mac, entry, capacity: store?.capacity ?? .max) }
        if changed { persist() }
    }

    /// The same, from the journal writer's observer.
    public func noteWritten(_ event: InstallEvent) {
        guard let mac = event.fields[.mac] else { return }
        noteWritten(event.kind, mac: mac, installID: event.fields[.installID])
    }

    /// The decision, with the journal read on the blocking thread pool (not the caller's thread).
    public func status(mac: String) async -> InstallOnceStatus {
        await BlockingWork.run { self.decide(mac: mac) }
    }

    /// The decision; blocks on one journal read: never call it from an event loop or a
    /// route handler (`status` is the way there).
    public func decide(mac: String) -> InstallOnceStatus {
        var fromJournal: JournalRecord?
        var readable = true
        do throws(JournalReadError) {
            fromJournal = try lookup(mac)
        } catch {
            readable = false
            warnUnreadable(error.description, decidingFrom: store.map { "\($0.path)" } ?? "this run's own events")
        }
        let capacity = store?.capacity ?? .max
        let (changed, known, incomplete) = lock.withLock { () -> (Bool, InstallOnceEntry?, Bool) in
            var changed = false
            if let fromJournal { changed = snapshot.record([fromJournal], capacity: capacity) }
            return (changed, snapshot.machines[mac], snapshot.incomplete)
        }
        if changed { persist() }
        if let known { return known.installed ? .installed : .armed }
        // Absent from a journal that reads, or from a state file that knows every machine: brand-new.
        if readable || !incomplete || !recording { return .armed }
        return .undecided(reason: Self.undecidedReason)
    }

    /// Blocks like `decide`.
    public func isInstalled(mac: String) -> Bool { decide(mac: mac) != .armed }

    /// Set by `load` when neither the state file nor the journal could be read (the bench
    /// page shows it).
    public var startProblem: String? { lock.withLock { undecidable } }

    /// What the state file holds now (tests, the bench).
    public var current: InstallOnceSnapshot { lock.withLock { snapshot } }

    private func warnUnreadable(_ problem: String, decidingFrom source: String) {
        let warn = lock.withLock { () -> Bool in
            defer { warnedUnreadable = true }
            return !warnedUnreadable
        }
        if warn {
            logger.warning("install once: cannot read the journal (\(problem)); deciding from \(source). Add the daemon's user to the systemd-journal group (the unit does: SupplementaryGroups=systemd-journal)")
        }
    }

    /// Writes the state file (atomically) off the caller's thread; a failure is logged
    /// once as an error: the decisions then last for this run only.
    private func persist() {
        guard recording, let store else { return }
        saveQueue.async { [self] in
            let copy = lock.withLock { snapshot }
            do throws(InstallOnceStoreError) {
                try store.save(copy)
            } catch {
                let warn = lock.withLock { () -> Bool in
                    defer { warnedUnwritable = true }
                    return !warnedUnwritable
                }
                if warn { logger.error("install once: \(error); installs recorded from now on are lost at the next restart if the journal cannot be read") }
            }
        }
    }

    /// Waits until every write asked so far has been made (tests, stop).
    public func flush() { saveQueue.sync {} }
}
