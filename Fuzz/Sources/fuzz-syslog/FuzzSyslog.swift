// One input = one UDP datagram as the installer-syslog receiver gets it, from anyone on
// the LAN. Parsed fields keep the sender's text, controls included (journal fields are
// binary-safe; the bench page sets it as textContent), so what must hold is: in-range
// facility and severity, every field one line with no control character once escaped for
// people (LogText.escaped, as MESSAGE, the log lines and `history` do), and a milestone
// (step or failure) whose names are non-empty.
import Foundation
import InstallJournal

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSyslog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard case .success(let line) = InstallerSyslog.parse(bytes) else { return 0 }
    precondition(size <= InstallerSyslog.maximumDatagramBytes, "an oversize datagram was accepted")
    precondition((0...23).contains(line.facility) && (0...7).contains(line.severity), "PRI out of range accepted")
    let fields = [line.message, line.text] + [line.timestamp, line.hostname, line.appName, line.processID].compactMap { $0 }
    for field in fields {
        precondition(!LogText.escaped(field).unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) },
                     "a control character survived escaping")
    }
    switch InstallerSyslog.milestone(line) {
    case .step(let step, let component)?:
        precondition(!step.isEmpty && !component.isEmpty, "a step without a name")
    case .failed(let step, let component, let reason)?:
        precondition(!step.isEmpty && !component.isEmpty && !reason.isEmpty, "a failure without a name or reason")
    default:
        break
    }
    return 0
}
