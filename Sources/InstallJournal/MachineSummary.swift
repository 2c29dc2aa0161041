// One row per machine from its events: what `garage-pxe machines` prints and the bench
// view shows. A pure fold over records, so the same code serves the CLI and the tests.

import Foundation

public struct MachineSummary: Sendable, Equatable, Codable {
    public var mac: String
    public var site: String?
    public var serial: String?
    public var manufacturer: String?
    public var product: String?
    public var ip: String?
    /// The last event's kind ("installer.step"…) and, for steps, the step.
    public var lastStage: String
    public var lastStep: String?
    /// Start of the latest install attempt, else the first event seen.
    public var startedMicroseconds: UInt64
    public var lastEventMicroseconds: UInt64
    /// "delivered", "finished", "failed", "installing", "stalled" (the installer waits on
    /// a person: a dialog, or silence), or "seen" (no install started).
    public var result: String
    /// Why the installer is stalled (French, GARAGE_PXE_REASON of installer.stalled), while
    /// `result` is "stalled".
    public var stalledReason: String?
    /// Install attempts (distinct INSTALL_IDs).
    public var installCount: Int
    public var currentInstallID: String?

    /// Zero when the clock stepped back between the two events (NTP setting a wrong clock
    /// right): the realtime stamps are not monotonic.
    public var elapsedSeconds: Double {
        lastEventMicroseconds >= startedMicroseconds ? Double(lastEventMicroseconds - startedMicroseconds) / 1e6 : 0
    }

    /// Folds events (oldest first) into one summary per MAC, ordered by last activity.
    public static func summarize(_ records: [JournalRecord]) -> [MachineSummary] {
        var byMAC: [String: MachineSummary] = [:]
        var installs: [String: Set<String>] = [:]
        for record in records {
            guard let kind = record.kind, kind.concernsMachine, let mac = record[.mac] else { continue }
            var row = byMAC[mac] ?? MachineSummary(
                mac: mac, lastStage: kind.rawValue, startedMicroseconds: record.realtimeMicroseconds,
                lastEventMicroseconds: record.realtimeMicroseconds, result: "seen", installCount: 0)
            if let v = record[.site] { row.site = v }
            if let v = record[.serial] { row.serial = v }
            if let v = record[.manufacturer] { row.manufacturer = v }
            if let v = record[.product] { row.product = v }
            if let v = record[.ip] { row.ip = v }
            // Raw installer lines say nothing about the stage.
            if kind != .installerLog {
                row.lastStage = kind.rawValue
                row.lastStep = record[.step]
            }
            row.lastEventMicroseconds = record.realtimeMicroseconds
            if let id = record[.installID], !(installs[mac]?.contains(id) ?? false) {
                installs[mac, default: []].insert(id)
                row.installCount += 1
                row.currentInstallID = id
                row.startedMicroseconds = record.realtimeMicroseconds
                row.result = "installing"
            }
            // Any milestone after a stall (resumed, a step, the end) means the installer moved.
            if kind != .installerLog { row.stalledReason = nil }
            switch kind {
            case .installerStalled where row.result == "installing" || row.result == "stalled":
                row.result = "stalled"
                row.stalledReason = record[.reason] ?? ""
            case .installerResumed: row.result = "installing"
            case .installerStep where row.result == "stalled": row.result = "installing"
            case .installerFinished: row.result = "finished"
            case .installerFailed, .postinstallFailed, .imageFailed: row.result = "failed"
            case .machineDelivered: row.result = "delivered"
            default: break
            }
            byMAC[mac] = row
        }
        return byMAC.values.sorted { ($0.lastEventMicroseconds, $0.mac) > ($1.lastEventMicroseconds, $1.mac) }
    }
}
