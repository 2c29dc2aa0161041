// Between the reports and the journal: a validated report becomes an event's fields, and
// those fields become the report again when the record or the certificate is rebuilt.
// Both directions live here so they cannot drift apart.

import Foundation
import InstallJournal
import Inventory

public enum ReportEvents {
    /// `machine.inventoried`'s fields (besides MAC and SITE, which the recorder adds).
    public static func inventoryFields(_ report: InventoryReport) -> [InstallField: String] {
        let health = HealthAssessment.assess(report)
        var fields: [InstallField: String] = [
            .manufacturer: report.machine.manufacturer, .product: report.machine.product,
            .serial: report.machine.serial, .uuid: report.machine.uuid,
            .cpuModel: report.cpu.model, .cpuCores: String(report.cpu.cores),
            .memoryBytes: String(report.memoryBytes), .memorySource: report.memorySource?.rawValue ?? "",
            .diskSerials: report.disks.map(\.serial).joined(separator: " "),
            .nicMACs: report.nics.map(\.mac).joined(separator: " "),
            .healthGrade: health.grade.rawValue,
            .inventory: CanonicalJSON.string(report),
        ]
        if let battery = report.battery { fields[.batteryWearPercent] = String(battery.wearPercent) }
        if !health.reasons.isEmpty { fields[.reason] = health.reasons.joined(separator: "; ") }
        // A DMI string the firmware left empty must not erase what iPXE reported for the
        // machine when the recorder merges these over its known fields.
        return fields.filter { !$0.value.isEmpty }
    }

    /// `disk.wiped` when the disk is erased and verified, else `disk.wipe.failed`.
    public static func wipeEvent(_ report: DiskWipeReport) -> (kind: InstallEventKind, fields: [InstallField: String]) {
        var fields: [InstallField: String] = [
            .diskSerial: report.serial, .diskModel: report.model, .diskBytes: String(report.sizeBytes),
            .wipeMethod: report.method.rawValue, .wipePasses: String(report.passes),
            .wipeStarted: report.started, .wipeEnded: report.ended, .verification: report.verification.rawValue,
        ]
        if let why = report.methodReason, !why.isEmpty { fields[.wipeMethodReason] = why }
        if report.erased { return (.diskWiped, fields) }
        // An agent claiming success without a verified read-back still fails, with that said.
        fields[.reason] = report.reason.isEmpty
            ? (report.success ? "read-back not verified (\(report.verification.rawValue))" : "wipe failed")
            : report.reason
        return (.diskWipeFailed, fields)
    }

    /// The inventory a `machine.inventoried` record carries; nil for another kind or a
    /// field that does not decode (an older format).
    public static func inventory(_ record: JournalRecord) -> InventoryReport? {
        guard record.kind == .machineInventoried, let json = record[.inventory] else { return nil }
        return try? JSONDecoder().decode(InventoryReport.self, from: Data(json.utf8))
    }

    /// The wipe a `disk.wiped` / `disk.wipe.failed` record carries.
    public static func wipe(_ record: JournalRecord) -> DiskWipeReport? {
        guard record.kind == .diskWiped || record.kind == .diskWipeFailed, let serial = record[.diskSerial] else { return nil }
        let verification = record[.verification].flatMap(WipeVerification.init(rawValue:)) ?? .notRun
        return DiskWipeReport(
            serial: serial, model: record[.diskModel] ?? "", sizeBytes: record[.diskBytes].flatMap { UInt64($0) } ?? 0,
            method: record[.wipeMethod].flatMap(WipeMethod.init(rawValue:)) ?? .none, methodReason: record[.wipeMethodReason],
            passes: record[.wipePasses].flatMap { Int($0) } ?? 0, started: record[.wipeStarted] ?? "", ended: record[.wipeEnded] ?? "",
            verification: verification, success: record.kind == .diskWiped, reason: record[.reason] ?? "")
    }
}
