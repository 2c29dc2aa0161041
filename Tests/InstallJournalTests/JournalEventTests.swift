import Foundation
import InstallJournal
import Testing
import TestSupport

@Suite("install events")
struct JournalEventTests {
    @Test("every kind has its own 128-bit MESSAGE_ID and an English and a French catalog entry")
    func messageIDsAndCatalog() throws {
        let ids = InstallEventKind.allCases.map(\.messageID)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
        let catalog = try String(contentsOfFile: Repo.path("systemd/garage-pxe.catalog"), encoding: .utf8)
        for id in ids {
            #expect(catalog.contains("-- \(id)\n"), "\(id) in English")
            #expect(catalog.contains("-- \(id) fr\n"), "\(id) in French")
        }
    }

    @Test("failures are written at err priority, fields are GARAGE_PXE_ prefixed, empty values left out")
    func fields() {
        let event = InstallEvent(.installerFailed, fields: [.mac: "52:54:00:12:34:56", .step: "partman", .serial: ""])
        let fields = Dictionary(uniqueKeysWithValues: event.journalFields.map { ($0.key, $0.value) })
        #expect(fields["PRIORITY"] == "3")
        #expect(fields["MESSAGE_ID"] == InstallEventKind.installerFailed.messageID)
        #expect(fields["GARAGE_PXE_EVENT"] == "installer.failed")
        #expect(fields["GARAGE_PXE_SERIAL"] == nil)
        #expect(event.journalFields.allSatisfy { ["MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER"].contains($0.key) || $0.key.hasPrefix("GARAGE_PXE_") })
        #expect(InstallEvent(.tftpSent).kind.priority == 6)
    }

    @Test("journald unreachable: the event goes to stderr as one key=value line and is counted")
    func fallback() {
        let lines = Lines()
        let writer = JournalWriter(send: { _ in -ECONNREFUSED }, fallback: { lines.append($0) })
        writer.write(InstallEvent(.tftpFailed, fields: [.mac: "52:54:00:12:34:56", .reason: "timed out \"twice\""]))
        writer.flush()
        #expect(writer.fallbackEvents == 1)
        let line = lines.all.first ?? ""
        #expect(line.hasPrefix("garage-pxe-event JOURNAL_ERROR=\"Connection refused\" MESSAGE="))
        #expect(line.contains(" GARAGE_PXE_EVENT=tftp.failed "))
        #expect(line.contains(" GARAGE_PXE_REASON=\"timed out \\\"twice\\\"\""))
        #expect(line.hasSuffix("\n") && line.filter { $0 == "\n" }.count == 1)
    }

    @Test("a full backlog does not wait: the event takes the stderr path at once")
    func backlogFull() {
        let lines = Lines()
        let gate = DispatchSemaphore(value: 0)
        let writer = JournalWriter(maximumBacklog: 1, send: { _ in gate.wait(); return 0 }, fallback: { lines.append($0) })
        writer.write(InstallEvent(.tftpSent))
        writer.write(InstallEvent(.tftpSent))
        #expect(writer.fallbackEvents == 1)
        gate.signal()
        writer.flush()
        #expect(lines.all.first?.contains("JOURNAL_ERROR=\"backlog full\"") == true)
    }

    @Test("machines: one row per MAC, install attempts counted, result from the last milestone")
    func summary() {
        func r(_ t: UInt64, _ kind: InstallEventKind, _ extra: [String: String] = [:]) -> JournalRecord {
            JournalRecord(realtimeMicroseconds: t * 1_000_000, message: "", priority: kind.priority,
                          fields: ["GARAGE_PXE_MAC": extra["mac"] ?? "aa:bb:cc:dd:ee:01", "GARAGE_PXE_EVENT": kind.rawValue].merging(extra.filter { $0.key != "mac" }) { $1 })
        }
        let rows = MachineSummary.summarize([
            r(1, .menuShown, ["GARAGE_PXE_SERIAL": "PF0ABC12", "GARAGE_PXE_PRODUCT": "ThinkCentre"]),
            r(2, .menuChosen, ["GARAGE_PXE_INSTALL_ID": "a"]),
            r(3, .installerFailed, ["GARAGE_PXE_INSTALL_ID": "a", "GARAGE_PXE_STEP": "partman"]),
            r(10, .menuChosen, ["GARAGE_PXE_INSTALL_ID": "b"]),
            r(70, .installerFinished, ["GARAGE_PXE_INSTALL_ID": "b"]),
            r(80, .dhcpOffer, ["mac": "aa:bb:cc:dd:ee:02"]),
        ])
        #expect(rows.map(\.mac) == ["aa:bb:cc:dd:ee:02", "aa:bb:cc:dd:ee:01"])
        let first = rows[1]
        #expect(first.serial == "PF0ABC12")
        #expect(first.installCount == 2)
        #expect(first.result == "finished")
        #expect(first.elapsedSeconds == 60)
        #expect(rows[0].result == "seen")
    }

    @Test("machines: a clock stepped back between two events gives an elapsed time of zero, not a crash")
    func clockSteppedBack() {
        let rows = MachineSummary.summarize([
            JournalRecord(realtimeMicroseconds: 100_000_000, message: "", priority: InstallEventKind.menuChosen.priority,
                          fields: ["GARAGE_PXE_MAC": "aa:bb:cc:dd:ee:03", "GARAGE_PXE_EVENT": "menu.chosen", "GARAGE_PXE_INSTALL_ID": "c"]),
            JournalRecord(realtimeMicroseconds: 40_000_000, message: "", priority: InstallEventKind.installerStep.priority,
                          fields: ["GARAGE_PXE_MAC": "aa:bb:cc:dd:ee:03", "GARAGE_PXE_EVENT": "installer.step", "GARAGE_PXE_INSTALL_ID": "c"]),
        ])
        #expect(rows.count == 1)
        #expect(rows.first?.elapsedSeconds == 0)
        #expect(JournalReader.normalizedMAC("ａａ:bb:cc:dd:ee:03") == nil)
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
