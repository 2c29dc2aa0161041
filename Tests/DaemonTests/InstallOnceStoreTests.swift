@testable import Daemon
import BootMenus
import Foundation
import InstallJournal
import Logging
import NetworkAddresses
import Testing

/// Install once's durable state file, and the tracker failing closed when neither it nor the
/// journal can tell.
@Suite("install once: the state file and failing closed")
struct InstallOnceStoreTests {
    static let mac = "52:54:00:ab:cd:31"
    static let newcomer = "52:54:00:ab:cd:32"

    static func record(_ kind: InstallEventKind, _ mac: String, at seconds: UInt64, installID: String? = nil) -> JournalRecord {
        var fields = ["GARAGE_PXE_MAC": mac, "GARAGE_PXE_EVENT": kind.rawValue]
        if let installID { fields["GARAGE_PXE_INSTALL_ID"] = installID }
        return JournalRecord(realtimeMicroseconds: seconds * 1_000_000, message: "", priority: kind.priority, fields: fields)
    }

    static func folder() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-state-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A journal that reads (with these deciding events) or does not.
    final class Journal: @unchecked Sendable {
        let lock = NSLock()
        var records: [JournalRecord] = []
        var unreadable = false
        /// The start-up read stops after the newest N deciding events (nil: no bound hit).
        var startReadBound: Int?
    }

    static func tracker(_ dir: String, _ journal: Journal, capacity: Int = InstallOnceStore.defaultCapacity,
                        clock: Double = 1_000) -> InstallOnceTracker {
        InstallOnceTracker(
            logger: Logger(label: "test"), store: InstallOnceStore(directory: dir, capacity: capacity),
            now: { Date(timeIntervalSince1970: clock) },
            lookup: { mac throws(JournalReadError) in
                let (unreadable, records) = journal.lock.withLock { (journal.unreadable, journal.records) }
                if unreadable { throw JournalReadError(description: "Permission denied") }
                return records.filter { $0[.mac] == mac }.max { $0.realtimeMicroseconds < $1.realtimeMicroseconds }
            },
            readAll: { () throws(JournalReadError) in
                let (unreadable, records, bound) = journal.lock.withLock { (journal.unreadable, journal.records, journal.startReadBound) }
                if unreadable { throw JournalReadError(description: "Permission denied") }
                guard let bound, records.count > bound else { return BoundedJournalRead(records: records) }
                return BoundedJournalRead(records: Array(records.sorted { $0.realtimeMicroseconds < $1.realtimeMicroseconds }.suffix(bound)),
                                          cutShort: "more than \(bound) events")
            })
    }

    @Test("saved atomically: renamed over the old file, no temporary left, the content read back")
    func atomicWrite() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = InstallOnceStore(directory: dir)
        #expect(try store.load() == nil, "no file yet")
        var snapshot = InstallOnceSnapshot()
        snapshot.record(mac: Self.mac, InstallOnceEntry(installed: true, installID: "id-1", microseconds: 5), capacity: 10)
        try store.save(snapshot)
        let firstInode = try FileManager.default.attributesOfItem(atPath: store.path)[.systemFileNumber] as? UInt64
        snapshot.record(mac: Self.newcomer, InstallOnceEntry(installed: false, microseconds: 6), capacity: 10)
        try store.save(snapshot)
        let secondInode = try FileManager.default.attributesOfItem(atPath: store.path)[.systemFileNumber] as? UInt64
        #expect(try store.load() == snapshot)
        #expect(firstInode != nil && firstInode != secondInode, "a new file renamed over the old one, not rewritten in place")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == [InstallOnceStore.fileName], "no temporary file left")
        // A folder that cannot be written: the save fails and the old file stays whole.
        let readOnly = InstallOnceStore(directory: dir + "/missing-folder")
        #expect(throws: InstallOnceStoreError.self) { try readOnly.save(snapshot) }
        #expect(try store.load() == snapshot)
    }

    @Test("a corrupt file is an error naming it, never an empty state")
    func corruptFile() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = InstallOnceStore(directory: dir)
        try Data("{\"version\":1,\"machines\":{\"52:54".utf8).write(to: URL(fileURLWithPath: store.path))
        do {
            _ = try store.load()
            Issue.record("a truncated file loaded")
        } catch {
            guard case .corrupt(let path, _) = error else { Issue.record("\(error)"); return }
            #expect(path == store.path)
        }
        try Data("{\"version\":7,\"machines\":{},\"incomplete\":false}".utf8).write(to: URL(fileURLWithPath: store.path))
        #expect(throws: InstallOnceStoreError.self) { try store.load() }
    }

    @Test("bounded: past the cap the oldest machines go, and the state says it is incomplete")
    func capAndEviction() {
        var snapshot = InstallOnceSnapshot()
        for i in 1...4 {
            snapshot.record(mac: "52:54:00:00:00:0\(i)", InstallOnceEntry(installed: true, microseconds: UInt64(i)), capacity: 3)
        }
        #expect(snapshot.machines.keys.sorted() == ["52:54:00:00:00:02", "52:54:00:00:00:03", "52:54:00:00:00:04"])
        #expect(snapshot.incomplete)
        // An older event never replaces a newer one.
        let replaced = snapshot.record(mac: "52:54:00:00:00:04", InstallOnceEntry(installed: false, microseconds: 1), capacity: 3)
        #expect(!replaced)
        #expect(snapshot.machines["52:54:00:00:00:04"]?.installed == true)
    }

    @Test("rebuilt from the journal: per machine the newest deciding event, with its install ID")
    func rebuildFromJournal() {
        let records = [
            Self.record(.installerStarted, Self.mac, at: 10, installID: "a"),
            Self.record(.installerFinished, Self.mac, at: 20, installID: "a"),
            Self.record(.menuShown, Self.mac, at: 30),
            Self.record(.installerFinished, Self.newcomer, at: 5, installID: "b"),
            Self.record(.machineRearmed, Self.newcomer, at: 40),
        ]
        let snapshot = InstallOnceSnapshot.rebuilt(from: records, capacity: 100)
        #expect(snapshot.machines[Self.mac] == InstallOnceEntry(installed: true, installID: "a", microseconds: 20_000_000))
        #expect(snapshot.machines[Self.newcomer] == InstallOnceEntry(installed: false, installID: nil, microseconds: 40_000_000))
        #expect(!snapshot.incomplete)
    }

    @Test("the tracker rebuilds a missing or corrupt file from the journal at start, and writes it")
    func trackerRebuilds() async throws {
        for corrupt in [false, true] {
            let dir = try Self.folder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let store = InstallOnceStore(directory: dir)
            if corrupt { try Data("garbage".utf8).write(to: URL(fileURLWithPath: store.path)) }
            let journal = Journal()
            journal.records = [Self.record(.installerFinished, Self.mac, at: 20, installID: "a")]
            let tracker = Self.tracker(dir, journal)
            tracker.load()
            tracker.flush()
            #expect(try store.load()?.machines[Self.mac]?.installed == true, "corrupt: \(corrupt)")
            #expect(await tracker.status(mac: Self.mac) == .installed)
            #expect(await tracker.status(mac: Self.newcomer) == .armed, "brand-new, the journal reads")
        }
    }

    @Test("installed stays installed across a restart when the journal's event is gone or the journal cannot be read")
    func survivesTheJournal() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = Journal()
        let first = Self.tracker(dir, journal)
        first.load()
        first.noteWritten(.installerFinished, mac: Self.mac, installID: "id-9")
        first.flush()
        #expect(try InstallOnceStore(directory: dir).load()?.machines[Self.mac] == InstallOnceEntry(installed: true, installID: "id-9", microseconds: 1_000_000_000))
        // Vacuumed: the journal reads but has nothing about the machine.
        let vacuumed = Self.tracker(dir, journal)
        vacuumed.load()
        #expect(vacuumed.decide(mac: Self.mac) == .installed)
        #expect(vacuumed.decide(mac: Self.newcomer) == .armed)
        // Unreadable: the file still decides, and knows every machine (a newcomer installs).
        journal.unreadable = true
        let unreadable = Self.tracker(dir, journal)
        unreadable.load()
        #expect(unreadable.decide(mac: Self.mac) == .installed)
        #expect(unreadable.decide(mac: Self.newcomer) == .armed)
    }

    @Test("no state file and an unreadable journal: every unknown machine defaults to its local disk, saying why; a rearm still arms")
    func failsClosed() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = Journal()
        journal.unreadable = true
        let tracker = Self.tracker(dir, journal)
        tracker.load()
        #expect(tracker.decide(mac: Self.mac) == .undecided(reason: InstallOnceTracker.undecidedReason))
        #expect(tracker.decide(mac: Self.newcomer) == .undecided(reason: InstallOnceTracker.undecidedReason))
        tracker.noteWritten(.machineRearmed, mac: Self.newcomer)
        #expect(tracker.decide(mac: Self.newcomer) == .armed)
        // Written while incomplete: the next start still cannot call an unknown machine new.
        tracker.flush()
        let restarted = Self.tracker(dir, journal)
        restarted.load()
        #expect(restarted.decide(mac: Self.mac) == .undecided(reason: InstallOnceTracker.undecidedReason))
        #expect(restarted.decide(mac: Self.newcomer) == .armed)
        // An evicted machine is unknown too when the journal cannot say.
        let small = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: small) }
        journal.unreadable = false
        let capped = Self.tracker(small, journal, capacity: 1)
        capped.load()
        capped.noteWritten(.installerFinished, mac: Self.mac)
        capped.flush()
        let later = Self.tracker(small, journal, capacity: 1, clock: 2_000)
        later.load()
        later.noteWritten(.installerFinished, mac: Self.newcomer)
        later.flush()
        journal.unreadable = true
        let evicted = Self.tracker(small, journal, capacity: 1)
        evicted.load()
        #expect(evicted.decide(mac: Self.mac) == .undecided(reason: InstallOnceTracker.undecidedReason))
        #expect(evicted.decide(mac: Self.newcomer) == .installed)
    }

    @Test("a start-up read cut at its bound: the file is rebuilt from the newest events and marked incomplete; each machine's own lookup still decides; with the journal gone, an unknown machine gets its local disk")
    func startReadBound() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = Journal()
        // Mac: installed long ago (older than the bound reaches); 40 other machines since.
        journal.records = [Self.record(.installerFinished, Self.mac, at: 10, installID: "old")]
            + (1...40).map { Self.record(.installerStarted, String(format: "52:54:00:00:01:%02x", $0), at: 100 + UInt64($0)) }
        journal.startReadBound = 8
        let tracker = Self.tracker(dir, journal)
        tracker.load()
        tracker.flush()
        let saved = try InstallOnceStore(directory: dir).load()
        #expect(saved?.machines.count == 8 && saved?.incomplete == true, "\(String(describing: saved))")
        #expect(saved?.machines[Self.mac] == nil, "older than the bound")
        // The journal reads: its per-machine lookup (one entry from the tail) decides exactly.
        #expect(tracker.decide(mac: Self.mac) == .installed)
        #expect(tracker.decide(mac: "52:54:00:00:01:01") == .armed)
        #expect(tracker.decide(mac: Self.newcomer) == .armed)
        tracker.flush()
        // Next start, the journal unreadable: what the cut read missed is undecided (local disk).
        journal.unreadable = true
        let restarted = Self.tracker(dir, journal)
        restarted.load()
        #expect(restarted.decide(mac: Self.mac) == .installed, "learnt from the lookup, kept in the file")
        #expect(restarted.decide(mac: "52:54:00:00:01:02") == .undecided(reason: InstallOnceTracker.undecidedReason))
        #expect(restarted.decide(mac: Self.newcomer) == .undecided(reason: InstallOnceTracker.undecidedReason))
        #expect(restarted.decide(mac: "52:54:00:00:01:28") == .armed, "within the newest 8")
    }

    @Test("the menu: undecided defaults to the local disk and names the reason")
    func undecidedMenuChoice() {
        let disk = MenuEntry(id: "disque", label: "Disque", kind: .localDisk)
        let auto = MenuEntry(id: "auto", label: "Installer", kind: .debianInstaller, image: "img")
        let menu = BootMenu(title: "t", timeoutSeconds: 5, defaultEntry: "auto", entries: [auto, disk])
        let machine = MachineIdentity(mac: MACAddress(Self.mac)!, platform: .efi)
        let undecided = menu.choice(for: machine, status: .undecided(reason: "pourquoi"), policy: InstallOncePolicy())
        #expect(undecided.defaultEntry?.id == "disque" && undecided.installed && undecided.installOnceReason == "pourquoi")
        #expect(menu.choice(for: machine, status: .armed, policy: InstallOncePolicy()).defaultEntry?.id == "auto")
        #expect(menu.choice(for: machine, status: .installed, policy: InstallOncePolicy()).installOnceReason == nil)
    }
}
