// The live bench view: the latest state of every machine seen in the last 24 h, as the
// workshop's bench page shows it. It is rebuilt from the journal at start-up (so a daemon
// restart loses nothing) and then fed every event as the daemon writes it. The rows
// themselves come from `MachineSummary`'s fold; this type only keeps each machine's recent
// events, forgets what fell out of the window, and tells subscribers (the page's live
// stream) that something changed. The clock is injected so tests can move time.

import Foundation

/// The stages a machine goes through, in order: the bench page's progress bar.
public enum BenchStage: String, CaseIterable, Sendable, Codable {
    case dhcpOffer = "dhcp.offer"
    case tftpSent = "tftp.sent"
    case menuShown = "menu.shown"
    case menuChosen = "menu.chosen"
    case imageSent = "image.sent"
    case installerStarted = "installer.started"
    case installerStep = "installer.step"
    case installerFinished = "installer.finished"
    case postinstall = "postinstall"
    case machineDelivered = "machine.delivered"

    /// Where an event puts a machine on the bar; failures sit on the stage that failed.
    /// A table rather than a switch: kinds added later simply stay off the bar.
    public init?(_ kind: InstallEventKind) {
        guard let stage = Self.byKind[kind] else { return nil }
        self = stage
    }

    private static let byKind: [InstallEventKind: BenchStage] = [
        .dhcpOffer: .dhcpOffer, .tftpSent: .tftpSent, .tftpFailed: .tftpSent, .menuShown: .menuShown,
        .menuChosen: .menuChosen, .imageSent: .imageSent, .installerStarted: .installerStarted,
        .installerStep: .installerStep, .installerFailed: .installerStep, .installerFinished: .installerFinished,
        // A stall sits on the step it happened at (the row says "bloqué" and why).
        .installerStalled: .installerStep, .installerResumed: .installerStep,
        .postinstallDone: .postinstall, .postinstallFailed: .postinstall, .machineDelivered: .machineDelivered,
    ]

    public var position: Int { Self.allCases.firstIndex(of: self)! }
}

/// One row of the bench page (`GET /api/machines`).
public struct BenchRow: Sendable, Equatable, Codable {
    public var summary: MachineSummary
    /// The bar's stage (the latest event's) and its 0-based position among `BenchStage.allCases`.
    public var stage: BenchStage?
    public var stagePosition: Int?
    /// The installer step the machine is at (or failed at), when known.
    public var step: String?
    /// Set when the latest attempt failed (or the latest event is a failure).
    public var failure: BenchFailure?
}

public struct BenchFailure: Sendable, Equatable, Codable {
    public var event: String
    /// The installer step (or stage, or file) that failed.
    public var step: String
    /// The `GARAGE_PXE_REASON` given with the failure; empty when none was (a bare
    /// `/progress?stage=failed`).
    public var reason: String

    public init(event: String, step: String, reason: String) {
        self.event = event
        self.step = step
        self.reason = reason
    }
}

/// `GET /api/machines/MAC`: the row and the events it was folded from, oldest first.
public struct BenchMachineDetail: Sendable, Equatable, Codable {
    public var machine: BenchRow
    public var events: [JournalRecord]
}

public final class BenchView: @unchecked Sendable {
    public typealias Clock = @Sendable () -> Date

    /// How far back the view looks (the page shows "the last 24 h").
    public let window: TimeInterval
    /// Per machine, at most this many events are kept: a machine stuck in a boot loop
    /// must not grow the daemon without bound. The oldest go first.
    public let maximumEventsPerMachine: Int
    private let now: Clock
    private let lock = NSLock()
    // Guarded by `lock`.
    /// Capped (MachineTable): a request with a made-up MAC adds a machine.
    private var eventsByMAC = MachineTable<[JournalRecord]>()
    /// Each machine's row, folded again only after its events changed: a busy bench
    /// (a hundred PCs installing) must not refold every machine on every event.
    private var rowByMAC = MachineTable<BenchRow>()
    private var subscribers: [UInt64: @Sendable () -> Void] = [:]
    private var nextSubscriber: UInt64 = 0
    private var changeCount: UInt64 = 0
    private var warningLines: [String] = []

    public init(window: TimeInterval = 86_400, maximumEventsPerMachine: Int = 2_000, now: @escaping Clock = { Date() }) {
        self.window = window
        self.maximumEventsPerMachine = maximumEventsPerMachine
        self.now = now
    }

    /// What the page must say above the machines, whatever they are: that events are not
    /// recorded (no journal), so install once and the record are off.
    /// Machines dropped from the view to stay within its capacity.
    public var evictedMachines: Int { lock.withLock { eventsByMAC.evictions } }

    public var warnings: [String] {
        get { lock.withLock { warningLines } }
        set { lock.withLock { warningLines = newValue } }
    }

    /// The view's clock (the page counts elapsed time from it, not from the browser's).
    public var currentDate: Date { now() }

    /// Where the start-up read of the journal begins.
    public var since: Date { now().addingTimeInterval(-window) }

    /// Replaces the view with these records (oldest first), e.g. the journal's last 24 h.
    public func rebuild(from records: [JournalRecord]) {
        lock.lock()
        eventsByMAC.removeAll()
        rowByMAC.removeAll()
        for record in records { insertLocked(record) }
        lock.unlock()
        notify()
    }

    /// One event as the daemon writes it, stamped with the view's clock.
    public func record(_ event: InstallEvent) {
        record(JournalRecord(event, at: now()))
    }

    public func record(_ record: JournalRecord) {
        lock.lock()
        let kept = insertLocked(record)
        lock.unlock()
        if kept { notify() }
    }

    /// Every machine seen within the window, most recently active first.
    /// (`MachineSummary.summarize`'s order.)
    public func rows() -> [BenchRow] {
        lock.withLock {
            dropExpiredLocked()
            return eventsByMAC.keys.compactMap(rowLocked)
        }.sorted { ($0.summary.lastEventMicroseconds, $0.summary.mac) > ($1.summary.lastEventMicroseconds, $1.summary.mac) }
    }

    /// One machine's row and events, nil if it was not seen within the window.
    public func machine(mac: String) -> BenchMachineDetail? {
        lock.withLock {
            dropExpiredLocked()
            guard let events = eventsByMAC[mac], let row = rowLocked(mac) else { return nil }
            return BenchMachineDetail(machine: row, events: events)
        }
    }

    /// Bumped on every change; a live stream sends a fresh copy when it moved.
    public var changes: UInt64 { lock.withLock { changeCount } }

    /// Calls `onChange` after every change (on the writer's thread: keep it short) until
    /// `unsubscribe` is called with the returned token.
    public func subscribe(_ onChange: @escaping @Sendable () -> Void) -> UInt64 {
        lock.withLock {
            nextSubscriber += 1
            subscribers[nextSubscriber] = onChange
            return nextSubscriber
        }
    }

    public func unsubscribe(_ token: UInt64) {
        lock.withLock { _ = subscribers.removeValue(forKey: token) }
    }

    /// Live streams currently attached (a client that went away must not stay counted).
    public var subscriberCount: Int { lock.withLock { subscribers.count } }

    // MARK: Folding

    static func row(_ summary: MachineSummary, events: [JournalRecord]) -> BenchRow {
        let stageEvents = events.filter { $0.kind.flatMap(BenchStage.init) != nil }
        let last = stageEvents.last
        let stage = last?.kind.flatMap(BenchStage.init)
        var row = BenchRow(summary: summary, stage: stage, stagePosition: stage?.position)
        // The installer step reached: the latest one named within the current attempt.
        let attempt = events.filter { $0.realtimeMicroseconds >= summary.startedMicroseconds }
        row.step = attempt.last(where: { $0[.step] != nil })?[.step]
        if let failed = stageEvents.last(where: { $0.kind?.isFailure == true }),
           summary.result == "failed" || last?.kind?.isFailure == true {
            let failedAt = failed[.step] ?? row.step ?? failed[.file] ?? failed[.stage] ?? failed.kind?.rawValue ?? "?"
            row.failure = BenchFailure(event: failed.kind?.rawValue ?? "?", step: failedAt, reason: failed[.reason] ?? "")
            row.step = failedAt
        }
        return row
    }

    // MARK: Storage

    /// Raw installer lines are the journal's business (`journalctl GARAGE_PXE_MAC=…`): they
    /// would crowd out the milestones here and say nothing about the stage.
    @discardableResult
    private func insertLocked(_ record: JournalRecord) -> Bool {
        guard let kind = record.kind, kind.concernsMachine, kind != .installerLog, let mac = record[.mac] else { return false }
        var events = eventsByMAC[mac] ?? []
        // Journal order is time order; a late arrival (clock step) still lands in place.
        if let last = events.last, last.realtimeMicroseconds > record.realtimeMicroseconds {
            let index = events.firstIndex { $0.realtimeMicroseconds > record.realtimeMicroseconds } ?? events.endIndex
            events.insert(record, at: index)
        } else {
            events.append(record)
        }
        if events.count > maximumEventsPerMachine { events.removeFirst(events.count - maximumEventsPerMachine) }
        eventsByMAC[mac] = events
        rowByMAC[mac] = nil
        changeCount += 1
        return true
    }

    /// Events that fell out of the window are dropped for good.
    private func dropExpiredLocked() {
        let cutoff = UInt64(max(0, since.timeIntervalSince1970) * 1e6)
        for mac in eventsByMAC.keys {
            guard let events = eventsByMAC[mac] else { continue }
            guard let first = events.first, first.realtimeMicroseconds < cutoff else { continue }
            let kept = events.filter { $0.realtimeMicroseconds >= cutoff }
            eventsByMAC[mac] = kept.isEmpty ? nil : kept
            rowByMAC[mac] = nil
        }
    }

    private func rowLocked(_ mac: String) -> BenchRow? {
        if let row = rowByMAC[mac] { return row }
        guard let events = eventsByMAC[mac], let summary = MachineSummary.summarize(events).first else { return nil }
        let row = Self.row(summary, events: events)
        rowByMAC[mac] = row
        return row
    }

    private func notify() {
        let callbacks = lock.withLock {
            changeCount += 1
            return Array(subscribers.values)
        }
        for callback in callbacks { callback() }
    }
}

extension JournalRecord {
    /// The record journald will store for `event`, with our own clock's timestamp (the
    /// journal's differs by the time the write took).
    public init(_ event: InstallEvent, at date: Date) {
        var fields: [String: String] = [:]
        for (field, value) in event.fields { fields[field.rawValue] = value }
        self.init(realtimeMicroseconds: UInt64(max(0, date.timeIntervalSince1970) * 1e6), message: event.message,
                  priority: event.kind.priority, fields: fields)
    }
}
