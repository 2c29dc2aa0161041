// Reads garage-pxe's events back from the journal: the local one (sd_journal_open) or
// journal files collected elsewhere, e.g. by systemd-journal-remote from several sites
// (sd_journal_open_directory). Filtering is done by journald's own field matches.

import CSystemd
import Dispatch
import Foundation

/// One event as read from the journal.
public struct JournalRecord: Sendable, Hashable, Codable {
    /// Microseconds since the epoch (__REALTIME_TIMESTAMP).
    public var realtimeMicroseconds: UInt64
    public var message: String
    public var priority: Int
    /// Every `GARAGE_PXE_*` field, keyed by its full name.
    public var fields: [String: String]

    public init(realtimeMicroseconds: UInt64, message: String, priority: Int, fields: [String: String]) {
        self.realtimeMicroseconds = realtimeMicroseconds
        self.message = message
        self.priority = priority
        self.fields = fields
    }

    public var kind: InstallEventKind? { fields[InstallField.event.rawValue].flatMap(InstallEventKind.init(rawValue:)) }
    public subscript(_ field: InstallField) -> String? { fields[field.rawValue] }
    public var date: Date { Date(timeIntervalSince1970: Double(realtimeMicroseconds) / 1e6) }
}

public struct JournalReadError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public struct JournalQuery: Sendable {
    /// Journal directories to read (each may hold machine-id subfolders); empty: the local journal.
    public var directories: [String] = []
    /// Only events at or after this time.
    public var since: Date?
    /// Field = value matches, all of which must hold.
    public var matches: [InstallField: String] = [:]
    /// Only these kinds; empty: all of garage-pxe's kinds.
    public var kinds: [InstallEventKind] = []

    public init(directories: [String] = [], since: Date? = nil, matches: [InstallField: String] = [:], kinds: [InstallEventKind] = []) {
        self.directories = directories
        self.since = since
        self.matches = matches
        self.kinds = kinds
    }
}

/// How much one start-up read of the journal may take: at most this many events and this
/// many seconds. A syslog flood, or a bench that ran for years, must not hold READY back
/// past systemd's start timeout (Restart=on-failure would make that a loop).
public struct JournalReadBound: Sendable, Equatable {
    public var maxRecords: Int
    public var maxSeconds: Double

    public init(maxRecords: Int, maxSeconds: Double) {
        self.maxRecords = maxRecords
        self.maxSeconds = maxSeconds
    }
}

/// What a bounded read got: the newest events it could read, oldest first, and why it
/// stopped before the oldest matching event (nil: it read them all).
public struct BoundedJournalRead: Sendable {
    public var records: [JournalRecord]
    public var cutShort: String?

    public init(records: [JournalRecord], cutShort: String? = nil) {
        self.records = records
        self.cutShort = cutShort
    }
}

public enum JournalReader {
    /// Events matching the query, oldest first.
    public static func read(_ query: JournalQuery) throws(JournalReadError) -> [JournalRecord] {
        var records: [JournalRecord] = []
        if query.directories.isEmpty {
            records = try readOne(directory: nil, query)
        } else {
            for directory in query.directories { records += try readOne(directory: directory, query) }
            records.sort { $0.realtimeMicroseconds < $1.realtimeMicroseconds }
            // Collected journals can hold an entry twice: systemd-journal-upload (252) sends
            // the entry at its saved cursor again when it restarts, and journal-remote keeps
            // its original timestamp. The same time, message and fields is the same event.
            var seen = Set<JournalRecord>()
            records = records.filter { seen.insert($0).inserted }
        }
        return records
    }

    private static func readOne(directory: String?, _ query: JournalQuery) throws(JournalReadError) -> [JournalRecord] {
        let journal = try openMatching(directory: directory, query)
        defer { sd_journal_close(journal) }
        if let since = query.since {
            sd_journal_seek_realtime_usec(journal, UInt64(max(0, since.timeIntervalSince1970) * 1e6))
        } else {
            sd_journal_seek_head(journal)
        }
        var records: [JournalRecord] = []
        while sd_journal_next(journal) > 0 {
            let record = currentRecord(journal)
            if let since = query.since, record.date < since { continue }
            records.append(record)
        }
        return records
    }

    /// The newest events matching the query (and `since`), read backwards from the tail
    /// within `bound`; returned oldest first. Only entries the query's matches select are
    /// visited (journald's field index): other kinds, however many, cost nothing.
    public static func readNewest(_ query: JournalQuery, within bound: JournalReadBound) throws(JournalReadError) -> BoundedJournalRead {
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(max(0, bound.maxSeconds) * 1e9)
        var records: [JournalRecord] = []
        var cutShort: String?
        for directory in query.directories.isEmpty ? [nil] : query.directories.map(Optional.some) {
            let journal = try openMatching(directory: directory, query)
            defer { sd_journal_close(journal) }
            sd_journal_seek_tail(journal)
            var read = 0
            while sd_journal_previous(journal) > 0 {
                let record = currentRecord(journal)
                if let since = query.since, record.date < since { break }
                if read >= bound.maxRecords {
                    cutShort = "more than \(bound.maxRecords) events"
                    break
                }
                if DispatchTime.now().uptimeNanoseconds > deadline {
                    cutShort = "more than \(bound.maxSeconds) s"
                    break
                }
                records.append(record)
                read += 1
            }
        }
        records.sort { $0.realtimeMicroseconds < $1.realtimeMicroseconds }
        if records.count > bound.maxRecords {
            records.removeFirst(records.count - bound.maxRecords)
            cutShort = cutShort ?? "more than \(bound.maxRecords) events"
        }
        return BoundedJournalRead(records: records, cutShort: cutShort)
    }

    /// Throws unless the local journal opens with at least one file this process can read:
    /// sd_journal_open succeeds on a journal whose files are all refused (the user is not in
    /// systemd-journal, they were deleted), and then every query looks like "no events".
    public static func ensureReadable() throws(JournalReadError) {
        var handle: OpaquePointer?
        let opened = sd_journal_open(&handle, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard opened >= 0, let journal = handle else {
            throw JournalReadError(description: "cannot open the journal: \(String(cString: strerror(-opened)))")
        }
        defer { sd_journal_close(journal) }
        var bytes: UInt64 = 0
        guard sd_journal_get_usage(journal, &bytes) >= 0, bytes > 0 else {
            throw JournalReadError(description: "no journal file can be read (is the user in the systemd-journal group?)")
        }
    }

    /// The newest event matching the query (`since` is ignored), read backwards from the
    /// tail: one entry read whatever the journal's size.
    public static func latest(_ query: JournalQuery) throws(JournalReadError) -> JournalRecord? {
        var newest: JournalRecord?
        for directory in query.directories.isEmpty ? [nil] : query.directories.map(Optional.some) {
            let journal = try openMatching(directory: directory, query)
            defer { sd_journal_close(journal) }
            sd_journal_seek_tail(journal)
            guard sd_journal_previous(journal) > 0 else { continue }
            let record = currentRecord(journal)
            if record.realtimeMicroseconds >= newest?.realtimeMicroseconds ?? 0 { newest = record }
        }
        return newest
    }

    /// Opens the local journal (or a folder of journal files) with the query's kinds and
    /// field matches added; the caller closes it.
    private static func openMatching(directory: String?, _ query: JournalQuery) throws(JournalReadError) -> OpaquePointer {
        var handle: OpaquePointer?
        let opened = directory.map { sd_journal_open_directory(&handle, $0, 0) } ?? sd_journal_open(&handle, Int32(SD_JOURNAL_LOCAL_ONLY))
        guard opened >= 0, let journal = handle else {
            throw JournalReadError(description: "cannot open the journal\(directory.map { " in \($0)" } ?? ""): \(String(cString: strerror(-opened)))")
        }
        func match(_ text: String) throws(JournalReadError) {
            let bytes = Array(text.utf8)
            let result = bytes.withUnsafeBytes { sd_journal_add_match(journal, $0.baseAddress, $0.count) }
            guard result >= 0 else {
                sd_journal_close(journal)
                throw JournalReadError(description: "bad journal match \(text): \(String(cString: strerror(-result)))")
            }
        }
        // Same field: OR; different fields: AND.
        for kind in query.kinds.isEmpty ? InstallEventKind.allCases : query.kinds {
            try match("MESSAGE_ID=\(kind.messageID)")
        }
        for (field, value) in query.matches.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            try match("\(field.rawValue)=\(value)")
        }
        return journal
    }

    /// The entry the journal's cursor is on.
    private static func currentRecord(_ journal: OpaquePointer) -> JournalRecord {
        var usec: UInt64 = 0
        sd_journal_get_realtime_usec(journal, &usec)
        var record = JournalRecord(realtimeMicroseconds: usec, message: "", priority: 6, fields: [:])
        var data: UnsafeRawPointer?
        var length = 0
        sd_journal_restart_data(journal)
        while sd_journal_enumerate_data(journal, &data, &length) > 0 {
            guard let data else { continue }
            let text = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            let key = String(text[..<equals])
            let value = String(text[text.index(after: equals)...])
            if key.hasPrefix("GARAGE_PXE_") {
                record.fields[key] = value
            } else if key == "MESSAGE" {
                record.message = value
            } else if key == "PRIORITY" {
                record.priority = Int(value) ?? 6
            }
        }
        return record
    }

    /// The events of one machine, named by its MAC or its serial number: a serial is first
    /// turned into the MACs that reported it, so events without the serial (TFTP, DHCP) show too.
    public static func history(of machine: String, directories: [String] = []) throws(JournalReadError) -> [JournalRecord] {
        if let mac = normalizedMAC(machine) {
            return try read(JournalQuery(directories: directories, matches: [.mac: mac]))
        }
        let bySerial = try read(JournalQuery(directories: directories, matches: [.serial: machine]))
        let macs = Set(bySerial.compactMap { $0[.mac] })
        var records: [JournalRecord] = []
        for mac in macs.sorted() {
            records += try read(JournalQuery(directories: directories, matches: [.mac: mac]))
        }
        return records.sorted { $0.realtimeMicroseconds < $1.realtimeMicroseconds }
    }

    /// "52-54-00-AB-CD-EF" or "52:54:00:ab:cd:ef" → "52:54:00:ab:cd:ef"; nil if not a MAC.
    public static func normalizedMAC(_ text: String) -> String? {
        let parts = text.lowercased().split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isHexDigit } }) else { return nil }
        return parts.joined(separator: ":")
    }
}
