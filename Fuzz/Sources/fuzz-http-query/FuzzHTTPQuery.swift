// One input = one query string as it arrives after '?'. Whatever MachineIdentity accepts
// must be safe to put in a template or a log line as it is, and must survive its own
// query string (scripts pass it from one request to the next).
import BootMenus
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPQuery(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let machine = try? MachineIdentity(query: decodeQuery(text)) else { return 0 }
    let fields = [machine.mac.description, machine.buildArchitecture, machine.ip, machine.uuid,
                  machine.manufacturer, machine.product, machine.serial].compactMap { $0 }
    for field in fields {
        precondition(field.count <= 64, "an accepted field is longer than 64 characters")
        precondition(!field.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f }, "control character accepted")
    }
    let again = try? MachineIdentity(query: decodeQuery(machine.queryString))
    precondition(again == machine, "the identity does not survive its own query string")
    return 0
}

/// Percent-decoded pairs, the first of each name winning, as the HTTP routes read them.
private func decodeQuery(_ text: String) -> [String: String] {
    var values: [String: String] = [:]
    for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[0])
        let raw = parts.count > 1 ? String(parts[1]) : ""
        let value = raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
        if values[name] == nil { values[name] = value }
    }
    return values
}
