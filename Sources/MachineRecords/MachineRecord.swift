// One record per donated PC, from intake to delivery, folded from its journal events. A PC
// shows up under several names: the MAC of whichever NIC booted, its DMI serial, the
// serials of its disks, the other NICs its inventory lists. Every name an event ties
// together lands in the same record, keyed by the DMI serial when the firmware gives a
// real one, else by the first MAC seen. A pure fold over records, shared by the CLI
// (`history`, `machines --csv`, `certificate`) and the bench page.

import Foundation
import InstallJournal
import Inventory

/// One disk's fate on the certificate and the bench: what the inventory said of it and the
/// latest wipe reported for it (by serial).
public struct DiskErasure: Sendable, Equatable, Codable {
    public var serial: String
    public var disk: DiskInventory?
    public var wipe: DiskWipeReport?
    /// When the server received the wipe report (journal time).
    public var reportedMicroseconds: UInt64?

    public var erased: Bool { wipe?.erased ?? false }
}

public enum EraseResult: String, Sendable, Equatable, Codable {
    /// No disk was erased or tried.
    case notRequested = "not-requested"
    /// Every disk of the latest inventory (and every disk tried) erased and verified.
    case erased
    /// At least one disk is NOT erased (failed, or never tried while others were).
    case incomplete

    public var label: String {
        switch self {
        case .notRequested: "non demandé"
        case .erased: "effacé"
        case .incomplete: "INCOMPLET"
        }
    }
}

public struct MachineRecord: Sendable, Equatable, Codable {
    /// The DMI serial, or the first MAC when the firmware gives no usable serial.
    public var key: String
    public var serial: String?
    public var manufacturer: String?
    public var product: String?
    public var uuid: String?
    public var site: String?
    public var macs: [String]
    public var firstSeenMicroseconds: UInt64
    public var lastSeenMicroseconds: UInt64
    /// The latest inventory and when it came.
    public var inventory: InventoryReport?
    public var inventoriedMicroseconds: UInt64?
    public var health: HealthAssessment?
    public var disks: [DiskErasure]
    public var eraseResult: EraseResult
    /// MachineSummary's result of the PC's latest install: seen, installing, finished, failed, delivered.
    public var installResult: String
    public var deliveredMicroseconds: UInt64?
    /// Every event of the PC, oldest first (for `history` and the machine page).
    public var events: [JournalRecord]

    public var delivered: Bool { deliveredMicroseconds != nil }
}

public enum MachineRecords {
    /// Serials firmware vendors leave in place of a real one: two PCs sharing one must not
    /// merge into one record.
    static let placeholderSerials: Set<String> = [
        "", "0", "00000000", "0123456789", "1234567890", "123456789", "default string", "to be filled by o.e.m.",
        "to be filled by oem", "system serial number", "not specified", "none", "n/a", "na", "serial", "chassis serial number",
        "invalid", "not applicable", "oem", "xxxxxxxx",
    ]

    public static func isUsableSerial(_ serial: String?) -> Bool {
        guard let text = serial?.trimmingCharacters(in: .whitespaces).lowercased(), !text.isEmpty else { return false }
        // All one repeated character ("0000000", "FFFFFFFF", "........"): a placeholder too.
        return !placeholderSerials.contains(text) && Set(text).count > 1
    }

    /// Folds every event (oldest first) into one record per PC, most recently active first.
    public static func fold(_ records: [JournalRecord]) -> [MachineRecord] {
        let groups = UnionFind()
        for record in records {
            guard let kind = record.kind, kind.concernsMachine, let mac = record[.mac] else { continue }
            let node = "mac:" + mac
            groups.add(node)
            if isUsableSerial(record[.serial]) { groups.union(node, "serial:" + record[.serial]!) }
            if let disk = record[.diskSerial] { groups.union(node, "disk:" + disk) }
            if let inventory = ReportEvents.inventory(record) {
                for nic in inventory.nics { groups.union(node, "mac:" + nic.mac) }
                for disk in inventory.disks { groups.union(node, "disk:" + disk.serial) }
            }
        }
        var byGroup: [String: [JournalRecord]] = [:]
        for record in records {
            guard let kind = record.kind, kind.concernsMachine, let mac = record[.mac] else { continue }
            byGroup[groups.find("mac:" + mac), default: []].append(record)
        }
        return byGroup.values.map(record(of:))
            .sorted { ($0.lastSeenMicroseconds, $0.key) > ($1.lastSeenMicroseconds, $1.key) }
    }

    /// The records whose key, serial, one of whose MACs, or one of whose disks' serials is `name`.
    public static func find(_ name: String, in records: [MachineRecord]) -> MachineRecord? {
        let mac = ReportValidation.normalizedMAC(name)
        return records.first { r in
            r.key == name || r.serial == name || (mac.map(r.macs.contains) ?? false) || r.disks.contains { $0.serial == name }
        }
    }

    /// One PC's events (oldest first) into its record.
    static func record(of events: [JournalRecord]) -> MachineRecord {
        var serial: String?
        var manufacturer: String?
        var product: String?
        var uuid: String?
        var site: String?
        var macs: [String] = []
        var inventory: InventoryReport?
        var inventoried: UInt64?
        var wipes: [String: (DiskWipeReport, UInt64)] = [:]
        var wipeOrder: [String] = []
        var delivered: UInt64?
        for record in events {
            if let mac = record[.mac], !macs.contains(mac) { macs.append(mac) }
            if isUsableSerial(record[.serial]) { serial = record[.serial] }
            if let v = record[.manufacturer], !v.isEmpty { manufacturer = v }
            if let v = record[.product], !v.isEmpty { product = v }
            if let v = record[.uuid], !v.isEmpty { uuid = v }
            if let v = record[.site] { site = v }
            if let report = ReportEvents.inventory(record) {
                inventory = report
                inventoried = record.realtimeMicroseconds
                for nic in report.nics where !macs.contains(nic.mac) { macs.append(nic.mac) }
            }
            if let wipe = ReportEvents.wipe(record) {
                if wipes[wipe.serial] == nil { wipeOrder.append(wipe.serial) }
                wipes[wipe.serial] = (wipe, record.realtimeMicroseconds)
            }
            if record.kind == .machineDelivered { delivered = record.realtimeMicroseconds }
        }
        // The inventory's disks in their order, then any disk wiped but not inventoried.
        var disks = (inventory?.disks ?? []).map { disk in
            DiskErasure(serial: disk.serial, disk: disk, wipe: wipes[disk.serial]?.0, reportedMicroseconds: wipes[disk.serial]?.1)
        }
        for serial in wipeOrder where !disks.contains(where: { $0.serial == serial }) {
            disks.append(DiskErasure(serial: serial, disk: nil, wipe: wipes[serial]?.0, reportedMicroseconds: wipes[serial]?.1))
        }
        let eraseResult: EraseResult = wipes.isEmpty ? .notRequested : (disks.allSatisfy(\.erased) ? .erased : .incomplete)
        let install = MachineSummary.summarize(events).first?.result ?? "seen"
        return MachineRecord(
            key: serial ?? macs.first ?? "-", serial: serial, manufacturer: manufacturer, product: product, uuid: uuid, site: site,
            macs: macs, firstSeenMicroseconds: events.first?.realtimeMicroseconds ?? 0,
            lastSeenMicroseconds: events.last?.realtimeMicroseconds ?? 0, inventory: inventory, inventoriedMicroseconds: inventoried,
            health: inventory.map(HealthAssessment.assess), disks: disks, eraseResult: eraseResult, installResult: install,
            deliveredMicroseconds: delivered, events: events)
    }
}

/// Groups names that events tie together (path-halving union-find over strings).
final class UnionFind {
    private var parent: [String: String] = [:]

    func add(_ x: String) { if parent[x] == nil { parent[x] = x } }

    func find(_ x: String) -> String {
        add(x)
        var x = x
        while let p = parent[x], p != x {
            let grand = parent[p] ?? p
            parent[x] = grand
            x = grand
        }
        return x
    }

    func union(_ a: String, _ b: String) {
        let (ra, rb) = (find(a), find(b))
        // The smaller name wins: the same events always give the same root.
        if ra != rb { if ra < rb { parent[rb] = ra } else { parent[ra] = rb } }
    }
}
