// Install once's durable copy: per MAC, whether its last install finished (installed) or
// it is armed to install again, with the install ID and the time of the deciding event.
// The journal stays the record; this file is what the decision falls back on when the
// journal cannot be read or its events were vacuumed or rate-limited away. It is written
// atomically (a temporary file, fsync, rename, fsync of the folder), bounded (the oldest
// machines are dropped past `capacity`, and the file says so), and rebuilt from the
// journal's deciding events when it is missing or corrupt.

import Foundation

public struct InstallOnceEntry: Sendable, Equatable, Codable {
    public var installed: Bool
    public var installID: String?
    /// When the deciding event happened, microseconds since the epoch.
    public var microseconds: UInt64

    public init(installed: Bool, installID: String? = nil, microseconds: UInt64) {
        self.installed = installed
        self.installID = installID
        self.microseconds = microseconds
    }
}

/// The file's content.
public struct InstallOnceSnapshot: Sendable, Equatable, Codable {
    public var version = 1
    public var machines: [String: InstallOnceEntry] = [:]
    /// Machines may be missing (dropped to keep the cap, or the file was started while
    /// neither it nor the journal could be read): a MAC absent here may have been installed.
    public var incomplete = false

    public init(machines: [String: InstallOnceEntry] = [:], incomplete: Bool = false) {
        self.machines = machines
        self.incomplete = incomplete
    }

    /// Records a deciding event unless a newer one is already known; drops the oldest
    /// machines past `capacity`. Returns whether anything changed.
    @discardableResult
    public mutating func record(mac: String, _ entry: InstallOnceEntry, capacity: Int) -> Bool {
        if let known = machines[mac], known.microseconds > entry.microseconds { return false }
        guard machines[mac] != entry else { return false }
        machines[mac] = entry
        evictOldest(capacity: capacity)
        return true
    }

    /// Folds journal records (deciding kinds; others are ignored) into the snapshot: per
    /// machine its newest event first, then the cap applied once (a start-up read may hold
    /// tens of thousands of events).
    @discardableResult
    public mutating func record(_ records: [JournalRecord], capacity: Int) -> Bool {
        var newest: [String: InstallOnceEntry] = [:]
        for record in records {
            guard let kind = record.kind, InstallOnceState.decidingKinds.contains(kind), let mac = record[.mac] else { continue }
            let entry = InstallOnceEntry(installed: InstallOnceState.isInstalled(after: kind), installID: record[.installID],
                                         microseconds: record.realtimeMicroseconds)
            // Equal times: the later record wins, as when recorded one by one.
            if let seen = newest[mac], seen.microseconds > entry.microseconds { continue }
            newest[mac] = entry
        }
        var changed = false
        for (mac, entry) in newest {
            if let known = machines[mac], known.microseconds > entry.microseconds { continue }
            guard machines[mac] != entry else { continue }
            machines[mac] = entry
            changed = true
        }
        evictOldest(capacity: capacity)
        return changed
    }

    /// Past `capacity`, the machines decided longest ago go, and the snapshot says it is incomplete.
    private mutating func evictOldest(capacity: Int) {
        guard machines.count > capacity else { return }
        let oldest = machines.sorted { ($0.value.microseconds, $0.key) < ($1.value.microseconds, $1.key) }
        for (old, _) in oldest.prefix(machines.count - capacity) { machines[old] = nil }
        incomplete = true
    }

    /// A snapshot built from the journal alone (the file was missing or corrupt).
    public static func rebuilt(from records: [JournalRecord], capacity: Int) -> InstallOnceSnapshot {
        var snapshot = InstallOnceSnapshot()
        snapshot.record(records, capacity: capacity)
        return snapshot
    }
}

public enum InstallOnceStoreError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .corrupt(let path, let reason): "\(path) is corrupt: \(reason)"
        case .unwritable(let path, let reason): "cannot write \(path): \(reason)"
        }
    }
}

/// The file itself: `install-once.json` in the daemon's state folder.
public struct InstallOnceStore: Sendable {
    public static let fileName = "install-once.json"
    public static let defaultCapacity = 20_000

    public let path: String
    public let capacity: Int

    public init(directory: String, capacity: Int = InstallOnceStore.defaultCapacity) {
        self.path = (directory as NSString).appendingPathComponent(Self.fileName)
        self.capacity = max(1, capacity)
    }

    /// nil: there is no file yet.
    public func load() throws(InstallOnceStoreError) -> InstallOnceSnapshot? {
        var status = stat()
        if lstat(path, &status) != 0, errno == ENOENT { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        do {
            let snapshot = try JSONDecoder().decode(InstallOnceSnapshot.self, from: data)
            guard snapshot.version == 1 else { throw InstallOnceStoreError.corrupt(path: path, reason: "unknown version \(snapshot.version)") }
            return snapshot
        } catch let error as InstallOnceStoreError {
            throw error
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
    }

    /// Writes the snapshot so that the file is, at every instant and after a crash, either
    /// the old content or the new: temporary file, fsync, rename over, fsync of the folder.
    public func save(_ snapshot: InstallOnceSnapshot) throws(InstallOnceStoreError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(snapshot) } catch { throw .unwritable(path: path, reason: "\(error)") }
        do throws(AtomicFileError) {
            try AtomicFile.write(data, to: path, mode: 0o640)
        } catch {
            throw .unwritable(path: path, reason: error.reason)
        }
    }
}

