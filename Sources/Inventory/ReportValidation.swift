// Reports come from PCs of unknown origin: before anything is journaled, a report is
// decoded strictly and checked against bounds, so a PC cannot fill the journal, forge a
// line, or put a formula into the CSV a person opens. Errors say which field and why.

import Foundation

public struct ReportError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum ReportValidation {
    /// Longest text field (DMI strings are at most 64 bytes; models and CPU names are shorter than this).
    public static let maximumTextBytes = 128
    public static let maximumDisks = 64
    public static let maximumNICs = 32
    /// The failure reason a wipe may carry (a command's error output, cut by the agent).
    public static let maximumReasonBytes = 1024

    public static func inventory(from data: Data) throws(ReportError) -> InventoryReport {
        var report: InventoryReport
        do {
            report = try JSONDecoder().decode(InventoryReport.self, from: data)
        } catch {
            throw ReportError("inventory is not valid JSON of the expected shape: \(describe(error))")
        }
        try check(report.machine.manufacturer, "machine.manufacturer", allowEmpty: true)
        try check(report.machine.product, "machine.product", allowEmpty: true)
        try check(report.machine.serial, "machine.serial", allowEmpty: true)
        try check(report.machine.uuid, "machine.uuid", allowEmpty: true)
        try check(report.cpu.model, "cpu.model", allowEmpty: true)
        guard (0...4096).contains(report.cpu.cores) else { throw ReportError("cpu.cores must be 0 to 4096") }
        guard report.disks.count <= maximumDisks else { throw ReportError("at most \(maximumDisks) disks") }
        guard report.nics.count <= maximumNICs else { throw ReportError("at most \(maximumNICs) network interfaces") }
        for (index, disk) in report.disks.enumerated() {
            try check(disk.name, "disks[\(index)].name", allowEmpty: true)
            try check(disk.model, "disks[\(index)].model", allowEmpty: true)
            try check(disk.serial, "disks[\(index)].serial", allowEmpty: false)
            if let used = disk.health?.percentageUsed, !(0...255).contains(used) {
                throw ReportError("disks[\(index)].health.percentageUsed must be 0 to 255")
            }
        }
        for index in report.nics.indices {
            try check(report.nics[index].name, "nics[\(index)].name", allowEmpty: true)
            guard let mac = normalizedMAC(report.nics[index].mac) else {
                throw ReportError("nics[\(index)].mac must be a MAC address such as 52:54:00:12:34:56")
            }
            report.nics[index].mac = mac
        }
        return report
    }

    public static func wipe(from data: Data) throws(ReportError) -> DiskWipeReport {
        var report: DiskWipeReport
        do {
            report = try JSONDecoder().decode(DiskWipeReport.self, from: data)
        } catch {
            throw ReportError("wipe report is not valid JSON of the expected shape: \(describe(error))")
        }
        try check(report.serial, "serial", allowEmpty: false)
        try check(report.model, "model", allowEmpty: true)
        try check(report.started, "started", allowEmpty: false)
        try check(report.ended, "ended", allowEmpty: false)
        guard (0...64).contains(report.passes) else { throw ReportError("passes must be 0 to 64") }
        try checkReason(report.reason, "reason")
        if let methodReason = report.methodReason {
            try checkReason(methodReason, "methodReason")
            // An empty reason is no reason: stored as none, so the journal has no empty field.
            if methodReason.isEmpty { report.methodReason = nil }
        }
        return report
    }

    /// Printable text only: no control character (a line break would split a CSV row or a
    /// log line), bounded, and never starting like a spreadsheet formula is handled at the
    /// CSV sink, not here (a serial may start with '-').
    static func check(_ text: String, _ name: String, allowEmpty: Bool) throws(ReportError) {
        if text.isEmpty && !allowEmpty { throw ReportError("\(name) must not be empty") }
        guard text.utf8.count <= maximumTextBytes else { throw ReportError("\(name) longer than \(maximumTextBytes) bytes") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw ReportError("\(name) contains a control character")
        }
    }

    /// A reason (a command's error output, cut by the agent): bounded, no control character.
    static func checkReason(_ text: String, _ name: String) throws(ReportError) {
        guard text.utf8.count <= maximumReasonBytes else { throw ReportError("\(name) longer than \(maximumReasonBytes) bytes") }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw ReportError("\(name) contains a control character")
        }
    }

    /// "52-54-00-AB-CD-EF" or "52:54:00:ab:cd:ef" → "52:54:00:ab:cd:ef"; ASCII hex only.
    public static func normalizedMAC(_ text: String) -> String? {
        let parts = text.lowercased().split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isHexDigit } }) else { return nil }
        return parts.joined(separator: ":")
    }

    /// DecodingError's own description is a wall of Swift; keep the path and the gist.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "document" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)): missing key '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
