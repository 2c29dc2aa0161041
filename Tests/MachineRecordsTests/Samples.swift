import Foundation
import InstallJournal
import Inventory
import MachineRecords

/// A workshop's typical intake: a laptop with a SATA SSD, an NVMe disk, a USB stick left in.
enum Samples {
    static let mac = "52:54:00:e5:00:01"
    static let otherNIC = "52:54:00:e5:00:02"

    static func inventory(serial: String = "PF0ERASE1", battery: BatteryInfo? = BatteryInfo(designCapacity: 50_000_000, fullCapacity: 45_000_000),
                          memory: UInt64 = 8 << 30) -> InventoryReport {
        InventoryReport(
            machine: DMIIdentity(manufacturer: "LENOVO", product: "ThinkPad T480", serial: serial, uuid: "4c4c4544-0037-3010-8052-b4c04f4e4d32"),
            cpu: CPUInfo(model: "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", cores: 8), memoryBytes: memory,
            disks: [
                DiskInventory(name: "sda", model: "Samsung SSD 860", serial: "S3Z9NB0K123456", sizeBytes: 250_059_350_016, transport: .sata,
                              health: DiskHealth(overall: .passed, powerOnHours: 12_000, reallocatedSectors: 0, pendingSectors: 0)),
                DiskInventory(name: "nvme0n1", model: "WDC PC SN520", serial: "19285D801234", sizeBytes: 256_060_514_304, transport: .nvme,
                              health: DiskHealth(overall: .passed, powerOnHours: 8_000, percentageUsed: 3)),
                DiskInventory(name: "sdb", model: "DataTraveler", serial: "USB-RO-0003", sizeBytes: 8_000_000_000, transport: .usb),
            ],
            battery: battery, nics: [NICInfo(name: "enp0s31f6", mac: mac), NICInfo(name: "wlp3s0", mac: otherNIC)])
    }

    static func wipe(_ serial: String, ok: Bool, method: WipeMethod = .overwrite) -> DiskWipeReport {
        DiskWipeReport(serial: serial, model: "m", sizeBytes: 1 << 30, method: ok ? method : .none, passes: ok ? 1 : 0,
                       started: "2026-12-06T06:00:00Z", ended: "2026-12-06T06:05:00Z", verification: ok ? .verified : .notRun,
                       success: ok, reason: ok ? "" : "write refused: read-only device")
    }

    /// What the journal gives back for an event the daemon wrote (its GARAGE_PXE_ fields).
    static func record(_ kind: InstallEventKind, _ fields: [InstallField: String], at seconds: UInt64) -> JournalRecord {
        let event = InstallEvent(kind, fields: fields)
        var all: [String: String] = [:]
        for (key, value) in event.journalFields where key.hasPrefix("GARAGE_PXE_") { all[key] = value }
        return JournalRecord(realtimeMicroseconds: seconds * 1_000_000, message: event.message, priority: kind.priority, fields: all)
    }

    /// Intake by iPXE, inventory, three wipes (the read-only one failed), install from the
    /// other NIC, delivery: as the daemon writes them.
    static func journeyEvents() -> [InstallEvent] {
        let site: [InstallField: String] = [.site: "Atelier Test"]
        var events = [InstallEvent(.menuShown, fields: site.merging([.mac: mac, .serial: "PF0ERASE1", .product: "ThinkPad T480"]) { a, _ in a })]
        events.append(InstallEvent(.machineInventoried, fields: site.merging(ReportEvents.inventoryFields(inventory())) { a, _ in a }.merging([.mac: mac]) { a, _ in a }))
        for w in [wipe("S3Z9NB0K123456", ok: true), wipe("19285D801234", ok: true, method: .nvmeFormat), wipe("USB-RO-0003", ok: false)] {
            let (kind, fields) = ReportEvents.wipeEvent(w)
            events.append(InstallEvent(kind, fields: fields.merging([.mac: mac, .site: "Atelier Test"]) { a, _ in a }))
        }
        events.append(InstallEvent(.installerFinished, fields: [.mac: otherNIC, .installID: "i1"]))
        events.append(InstallEvent(.machineDelivered, fields: [.mac: otherNIC]))
        return events
    }

    static func journey(base: UInt64 = 1_780_000_000) -> [JournalRecord] {
        journeyEvents().enumerated().map { i, event in record(event.kind, event.fields, at: base + UInt64(i) * 60) }
    }
}
