// What the diagnostic environment reports about one PC (its hardware and the health of its
// parts) and about each disk it erased. Plain Codable values: the agent on the PC posts
// them as JSON, the server validates them (ReportValidation) before anything is written,
// and the journal keeps the inventory as canonical JSON so the record and the certificate
// can be rebuilt from the journal alone.

import Foundation

/// `POST /report/inventory`: one per boot of the diagnostic environment.
public struct InventoryReport: Sendable, Equatable, Codable {
    public var machine: DMIIdentity
    public var cpu: CPUInfo
    /// Installed RAM, bytes: DMI's sum of memory devices when the agent can read them,
    /// else what the kernel sees (see `memorySource`).
    public var memoryBytes: UInt64
    /// Where `memoryBytes` comes from; nil in reports from before it was sent.
    public var memorySource: MemorySource?
    public var disks: [DiskInventory]
    /// nil: the PC has no battery (a desktop).
    public var battery: BatteryInfo?
    public var nics: [NICInfo]

    public init(machine: DMIIdentity, cpu: CPUInfo, memoryBytes: UInt64, memorySource: MemorySource? = nil, disks: [DiskInventory],
                battery: BatteryInfo? = nil, nics: [NICInfo]) {
        self.machine = machine
        self.cpu = cpu
        self.memoryBytes = memoryBytes
        self.memorySource = memorySource
        self.disks = disks
        self.battery = battery
        self.nics = nics
    }
}

/// Where the RAM size of an inventory comes from.
public enum MemorySource: String, Sendable, Equatable, Codable, CaseIterable {
    /// The sum of the SMBIOS memory devices (type 17): what is installed.
    case dmi
    /// The kernel's MemTotal: less than installed (the firmware and integrated graphics keep
    /// a share), sent when the firmware's DMI table lists no memory device.
    case kernel

    /// French, for the bench page.
    public var label: String {
        switch self {
        case .dmi: "modules installés (DMI)"
        case .kernel: "vue par le noyau, DMI illisible"
        }
    }
}

/// `dmidecode -s system-manufacturer` etc. Empty strings when the firmware gives none.
public struct DMIIdentity: Sendable, Equatable, Codable {
    public var manufacturer: String
    public var product: String
    public var serial: String
    public var uuid: String

    public init(manufacturer: String, product: String, serial: String, uuid: String) {
        self.manufacturer = manufacturer
        self.product = product
        self.serial = serial
        self.uuid = uuid
    }
}

public struct CPUInfo: Sendable, Equatable, Codable {
    public var model: String
    /// Logical CPUs the kernel sees.
    public var cores: Int

    public init(model: String, cores: Int) {
        self.model = model
        self.cores = cores
    }
}

public enum DiskTransport: String, Sendable, Equatable, Codable, CaseIterable {
    case sata, nvme, usb
    /// An MMC card whose type is MMC: the eMMC soldered in cheap laptops and tablets.
    case emmc
    /// An SD card, in a reader on the MMC bus.
    case sd
    case other
}

public struct DiskInventory: Sendable, Equatable, Codable {
    /// Kernel name (sda, nvme0n1): helps a person match the report to the screen.
    public var name: String
    public var model: String
    public var serial: String
    public var sizeBytes: UInt64
    public var transport: DiskTransport
    /// nil: the disk answered no SMART / NVMe health query.
    public var health: DiskHealth?

    public init(name: String, model: String, serial: String, sizeBytes: UInt64, transport: DiskTransport, health: DiskHealth? = nil) {
        self.name = name
        self.model = model
        self.serial = serial
        self.sizeBytes = sizeBytes
        self.transport = transport
        self.health = health
    }
}

/// SMART (ATA) or the NVMe health log, what `smartctl -H -A` says.
public struct DiskHealth: Sendable, Equatable, Codable {
    public enum Overall: String, Sendable, Equatable, Codable { case passed, failed, unknown }
    public var overall: Overall
    public var powerOnHours: UInt64?
    /// ATA attributes 5 and 197.
    public var reallocatedSectors: UInt64?
    public var pendingSectors: UInt64?
    /// NVMe "Percentage Used" (endurance consumed; may exceed 100).
    public var percentageUsed: Int?

    public init(overall: Overall, powerOnHours: UInt64? = nil, reallocatedSectors: UInt64? = nil, pendingSectors: UInt64? = nil,
                percentageUsed: Int? = nil) {
        self.overall = overall
        self.powerOnHours = powerOnHours
        self.reallocatedSectors = reallocatedSectors
        self.pendingSectors = pendingSectors
        self.percentageUsed = percentageUsed
    }
}

/// /sys/class/power_supply/BAT*: energy_full_design/energy_full (µWh) or charge_* (µAh);
/// the unit does not matter for wear, only the ratio.
public struct BatteryInfo: Sendable, Equatable, Codable {
    public var designCapacity: UInt64
    public var fullCapacity: UInt64

    public init(designCapacity: UInt64, fullCapacity: UInt64) {
        self.designCapacity = designCapacity
        self.fullCapacity = fullCapacity
    }

    /// Capacity lost, 0…100 (a battery reporting more than its design counts as 0).
    public var wearPercent: Int {
        guard designCapacity > 0, fullCapacity < designCapacity else { return 0 }
        return Int((Double(designCapacity - fullCapacity) / Double(designCapacity) * 100).rounded())
    }
}

public struct NICInfo: Sendable, Equatable, Codable {
    public var name: String
    /// Lowercase, colon-separated (validation normalises it).
    public var mac: String

    public init(name: String, mac: String) {
        self.name = name
        self.mac = mac
    }
}

/// How a disk was erased, strongest first.
public enum WipeMethod: String, Sendable, Equatable, Codable, CaseIterable {
    /// NVMe Sanitize (block erase or crypto erase): the controller erases every cell, including spare.
    case nvmeSanitize = "nvme-sanitize"
    /// NVMe Format with Secure Erase Settings = 1 (user data erase) or 2 (crypto).
    case nvmeFormat = "nvme-format"
    /// ATA SECURITY ERASE UNIT (hdparm --security-erase), only when the drive is not frozen.
    case ataSecureErase = "ata-secure-erase"
    /// An eMMC's own secure erase (the kernel's BLKSECDISCARD, offered only when the card has it).
    case mmcSecureErase = "mmc-secure-erase"
    /// Zeros written over every sector from the host (nwipe/dd): no spare area reached.
    case overwrite
    /// Nothing could be started (e.g. the disk refused writes).
    case none

    /// French, for the certificate and the bench.
    public var label: String {
        switch self {
        case .nvmeSanitize: "NVMe Sanitize (effacement par le contrôleur)"
        case .nvmeFormat: "NVMe Format avec effacement sécurisé"
        case .ataSecureErase: "ATA Secure Erase"
        case .mmcSecureErase: "eMMC Secure Erase (effacement par la carte)"
        case .overwrite: "Réécriture complète (zéros)"
        case .none: "aucune"
        }
    }
}

public enum WipeVerification: String, Sendable, Equatable, Codable, CaseIterable {
    /// Every byte read back and found as the method leaves it (zeros, or the drive's pattern).
    case verified
    /// The read-back found data the method should have removed.
    case mismatch
    /// The read-back could not run (read error, or the wipe failed first).
    case notRun = "not-run"
}

/// `POST /report/wipe`: one per disk, after its erase and read-back.
public struct DiskWipeReport: Sendable, Equatable, Codable {
    public var serial: String
    public var model: String
    public var sizeBytes: UInt64
    public var method: WipeMethod
    /// Why `method` and not a stronger one (what the drive reported or the command answered,
    /// e.g. "no sanitize block erase (SANICAP 0x0)"), and any part of the drive deliberately
    /// left as it is (an eMMC's hardware boot partitions); nil when there is nothing to say
    /// (and in reports from agents older than this field).
    public var methodReason: String?
    public var passes: Int
    /// ISO 8601 UTC, as the PC's clock says (the server adds its own receipt time).
    public var started: String
    public var ended: String
    public var verification: WipeVerification
    /// true only when the method completed AND the read-back verified: anything else is a failure.
    public var success: Bool
    /// Why it failed; empty on success.
    public var reason: String

    public init(serial: String, model: String, sizeBytes: UInt64, method: WipeMethod, methodReason: String? = nil, passes: Int,
                started: String, ended: String, verification: WipeVerification, success: Bool, reason: String = "") {
        self.serial = serial
        self.model = model
        self.sizeBytes = sizeBytes
        self.method = method
        self.methodReason = methodReason
        self.passes = passes
        self.started = started
        self.ended = ended
        self.verification = verification
        self.success = success
        self.reason = reason
    }

    /// A wipe counts as done only if the agent says so AND the read-back verified: an agent
    /// bug that claims success without verifying still lands as a failure.
    public var erased: Bool { success && verification == .verified && method != .none }
}

/// The one JSON form the server stores (journal field) and signs: sorted keys, no
/// whitespace, slashes unescaped.
public enum CanonicalJSON {
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func string(_ value: some Encodable) -> String {
        (try? encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
