// A simple grade per machine so the bench can decide at a glance what to do with a PC.
// Documented in README ("Health grade"); the thresholds are deliberately few and round:
//
//   A  good as is
//   B  usable, a part is worn or unknown (disk with > 30 000 power-on hours or ≥ 50 % of its
//      NVMe endurance used; a disk without health data; battery wear ≥ 20 %; RAM < 4 GiB,
//      installed: a size the kernel saw counts 8/7 of itself)
//   C  needs a part replaced before delivery (disk with reallocated or pending sectors, or
//      ≥ 90 % endurance used; battery wear ≥ 50 %; RAM < 2 GiB; no disk at all)
//   D  a disk's own self-assessment says it is failing (SMART/NVMe overall "failed")
//
// The machine's grade is the worst of its parts; each lowering comes with a reason in French.

import Foundation

public enum HealthGrade: String, Sendable, Equatable, Codable, Comparable, CaseIterable {
    case a = "A", b = "B", c = "C", d = "D"

    public static func < (lhs: HealthGrade, rhs: HealthGrade) -> Bool { lhs.rawValue < rhs.rawValue }

    public var label: String {
        switch self {
        case .a: "bon état"
        case .b: "utilisable, usure"
        case .c: "pièce à remplacer"
        case .d: "disque défaillant"
        }
    }
}

public struct HealthAssessment: Sendable, Equatable, Codable {
    public var grade: HealthGrade
    /// Why the grade is not A, one French sentence per finding.
    public var reasons: [String]

    public static let gib: UInt64 = 1 << 30

    public static func assess(_ report: InventoryReport) -> HealthAssessment {
        var grade = HealthGrade.a
        var reasons: [String] = []
        func lower(to g: HealthGrade, _ reason: String) {
            grade = max(grade, g)
            reasons.append(reason)
        }
        if report.disks.isEmpty { lower(to: .c, "aucun disque détecté") }
        for disk in report.disks {
            let name = "disque \(disk.serial)"
            guard let health = disk.health else {
                lower(to: .b, "\(name) : état SMART inconnu")
                continue
            }
            if health.overall == .failed { lower(to: .d, "\(name) : auto-diagnostic en échec") }
            if health.overall == .unknown { lower(to: .b, "\(name) : auto-diagnostic inconnu") }
            let bad = (health.reallocatedSectors ?? 0) + (health.pendingSectors ?? 0)
            if bad > 0 { lower(to: .c, "\(name) : \(bad) secteurs réalloués ou en attente") }
            if let used = health.percentageUsed {
                if used >= 90 { lower(to: .c, "\(name) : \(used) % d'endurance consommée") } else if used >= 50 {
                    lower(to: .b, "\(name) : \(used) % d'endurance consommée")
                }
            }
            if let hours = health.powerOnHours, hours > 30_000 { lower(to: .b, "\(name) : \(hours) heures de fonctionnement") }
        }
        if let battery = report.battery {
            let wear = battery.wearPercent
            if wear >= 50 { lower(to: .c, "batterie usée à \(wear) %") } else if wear >= 20 { lower(to: .b, "batterie usée à \(wear) %") }
        }
        if installedMemory(report) < 2 * gib {
            lower(to: .c, "mémoire vive inférieure à 2 Gio")
        } else if installedMemory(report) < 4 * gib {
            lower(to: .b, "mémoire vive inférieure à 4 Gio")
        }
        return HealthAssessment(grade: grade, reasons: reasons)
    }

    /// RAM as installed: DMI's figure as is; the kernel's (when DMI lists no memory device)
    /// lacks what the firmware and integrated graphics keep, up to 1/8 of what is installed
    /// on office PCs, so 4 GiB seen as 3.6 GiB is not held against the PC.
    static func installedMemory(_ report: InventoryReport) -> UInt64 {
        report.memorySource == .kernel ? report.memoryBytes + report.memoryBytes / 7 : report.memoryBytes
    }
}
