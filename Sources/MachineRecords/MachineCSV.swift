// `garage-pxe machines --csv` and the bench page's download: one row per PC (RFC 4180,
// CRLF line ends, UTF-8). The DMI strings come from the PCs, so a cell that a spreadsheet
// would run as a formula (=, +, -, @, tab, CR first) is written with a leading apostrophe.

import Foundation

public enum MachineCSV {
    public static let header = [
        "serial", "manufacturer", "product", "uuid", "macs", "site", "first_seen", "last_seen", "cpu", "ram_bytes", "disks",
        "health_grade", "health_reasons", "erase_result", "disks_erased", "install_result", "delivered", "delivered_at",
    ]

    public static func document(_ records: [MachineRecord]) -> String {
        ([header] + records.map(row)).map { $0.map(cell).joined(separator: ",") + "\r\n" }.joined()
    }

    static func row(_ r: MachineRecord) -> [String] {
        let erased = r.disks.filter(\.erased).count
        return [
            r.serial ?? "", r.manufacturer ?? "", r.product ?? "", r.uuid ?? "", r.macs.joined(separator: " "), r.site ?? "",
            isoTime(r.firstSeenMicroseconds), isoTime(r.lastSeenMicroseconds),
            r.inventory.map { "\($0.cpu.model) (\($0.cpu.cores))" } ?? "", r.inventory.map { String($0.memoryBytes) } ?? "",
            r.disks.map(\.serial).joined(separator: " "),
            r.health?.grade.rawValue ?? "", r.health?.reasons.joined(separator: "; ") ?? "",
            r.eraseResult.rawValue, r.disks.isEmpty ? "" : "\(erased)/\(r.disks.count)",
            r.installResult, r.delivered ? "yes" : "no", r.deliveredMicroseconds.map(isoTime) ?? "",
        ]
    }

    static func cell(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func isoTime(_ microseconds: UInt64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(microseconds) / 1e6))
    }
}
