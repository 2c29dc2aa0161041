// The recorder reading the installer's syslog as the daemon does: the real captured lines
// in the order they arrived, the preseed fetch where it happened among them, and silence
// measured on a clock the test moves (no waiting). The writer's sink is a closure here; the
// real daemon over UDP with a private journald is InstallerStallDaemonTests.

import BootHTTP
import BootMenus
import Daemon
import Foundation
import InstallJournal
import NetworkAddresses
import Testing
import TestSupport

@Suite struct InstallerStallRecorderTests {
    /// The silence check's clock, moved by hand.
    final class ManualClock: @unchecked Sendable {
        private let lock = NSLock()
        private var seconds = 1000.0
        var now: Double { lock.withLock { seconds } }
        func advance(_ by: Double) { lock.withLock { seconds += by } }
    }

    struct Written {
        var fields: [String: String]
        var kind: String { fields["GARAGE_PXE_EVENT"] ?? "" }
    }

    final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [Written] = []
        func add(_ fields: [String]) {
            var map: [String: String] = [:]
            for field in fields {
                guard let eq = field.firstIndex(of: "=") else { continue }
                map[String(field[..<eq])] = String(field[field.index(after: eq)...])
            }
            lock.withLock { events.append(Written(fields: map)) }
        }
        var all: [Written] { lock.withLock { events } }
        /// Milestones only (the raw installer.log lines left out).
        var milestones: [Written] { all.filter { $0.kind != "installer.log" } }
    }

    static let mac = "52:54:00:7c:1b:d8"
    static let ip = "10.77.0.143"

    static func recorder(_ sink: Sink, clock: ManualClock = ManualClock(), stallSeconds: Int = 300) -> (InstallEventRecorder, JournalWriter) {
        let writer = JournalWriter(send: { sink.add($0); return 0 })
        return (InstallEventRecorder(writer: writer, site: "Atelier", stallSeconds: stallSeconds, uptime: { clock.now }), writer)
    }

    static func choose(_ recorder: InstallEventRecorder) throws -> MachineIdentity {
        let machine = MachineIdentity(mac: try #require(MACAddress(mac)), platform: .bios, serial: "PF0STALL")
        #expect(recorder.http(.menuShown(machine: machine, entry: nil, remote: ip, proven: true)))
        #expect(recorder.http(.entryChosen(machine: machine, entry: "debian-12-auto", remote: ip, proven: true, installs: true)))
        return machine
    }

    static func send(_ recorder: InstallEventRecorder, _ text: String) throws {
        recorder.installerSyslog(try InstallerSyslog.parse(Array(text.utf8)).get(), from: ip, neighbourMAC: { _ in nil })
    }

    /// The real order of a boot (offline-mirror capture): main-menu logs "Menu item
    /// 'network-preseed' selected" and only then fetches the preseed, so the step came
    /// first and installer.started after it. Now installer.started comes first, once.
    @Test("installer.started is written before the first installer.step, once, when the step is logged before the preseed fetch; the capture's last line stalls it", arguments: [
        ("bookworm-bios-offline-mirror.txt", "le miroir ne propose pas la version demandée (bookworm)", "mirror"),
        ("bookworm-bios-anna-retrieval-failed.txt", "téléchargement d'un composant depuis le miroir a échoué", "download-installer"),
    ])
    func startedBeforeFirstStep(fixture: String, reason: String, step: String) throws {
        let sink = Sink()
        let (recorder, writer) = Self.recorder(sink)
        let machine = try Self.choose(recorder)
        let lines = try InstallerSyslogCapture.datagrams(fixture).map { try InstallerSyslog.parse($0).get() }
        let fetchedAfter = try #require(lines.firstIndex { $0.message.contains("Menu item 'network-preseed' selected") })
        for (index, line) in lines.enumerated() {
            recorder.installerSyslog(line, from: Self.ip, neighbourMAC: { _ in nil })
            if index == fetchedAfter {
                #expect(recorder.http(.preseedSent(machine: MachineIdentity(mac: machine.mac, platform: .bios), entry: "debian-12-auto", remote: Self.ip)))
            }
        }
        writer.flush()
        let kinds = sink.milestones.map(\.kind)
        #expect(kinds.prefix(4) == ["menu.shown", "menu.chosen", "installer.started", "installer.step"], "\(kinds)")
        #expect(kinds.filter { $0 == "installer.started" }.count == 1, "\(kinds)")
        let started = try #require(sink.all.first { $0.kind == "installer.started" })
        #expect(started.fields["GARAGE_PXE_ENTRY"] == "debian-12-auto")
        #expect(started.fields["GARAGE_PXE_SERIAL"] == "PF0STALL")
        let ids = Set(sink.milestones.dropFirst().compactMap { $0.fields["GARAGE_PXE_INSTALL_ID"] })
        #expect(ids.count == 1, "one install attempt from menu.chosen on: \(ids)")
        // Each capture ends on a line the installer follows with a dialog, then silence.
        #expect(kinds.last == "installer.stalled")
        #expect(kinds.filter { $0 == "installer.stalled" }.count == 1, "\(kinds)")
        #expect(sink.milestones.last?.fields["GARAGE_PXE_REASON"] == reason)
        #expect(sink.milestones.last?.fields["GARAGE_PXE_STEP"] == step)
    }

    /// The preseed's HTTP thread and the syslog queue racing: whichever comes first writes
    /// installer.started, and the step is never ahead of it.
    @Test("preseed fetch and first step on two threads: one installer.started, always before the step")
    func startedBeforeStepUnderRace() throws {
        for round in 0..<200 {
            let sink = Sink()
            let (recorder, writer) = Self.recorder(sink)
            let machine = try Self.choose(recorder)
            let line = try InstallerSyslog.parse(Array("<14>Nov 22 03:31:32 main-menu[258]: INFO: Menu item 'localechooser' selected\n".utf8)).get()
            let preseed: @Sendable () -> Void = { _ = recorder.http(.preseedSent(machine: machine, entry: "debian-12-auto", remote: Self.ip)) }
            let syslog: @Sendable () -> Void = { recorder.installerSyslog(line, from: Self.ip, neighbourMAC: { _ in nil }) }
            // Both released at once, each side first in half the rounds.
            let go = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for work in round % 2 == 0 ? [preseed, syslog] : [syslog, preseed] {
                DispatchQueue.global().async(group: group) {
                    go.wait()
                    work()
                }
            }
            go.signal()
            go.signal()
            group.wait()
            writer.flush()
            let kinds = sink.milestones.map(\.kind).filter { $0.hasPrefix("installer.") }
            #expect(kinds == ["installer.started", "installer.step"], "\(kinds)")
        }
    }

    @Test("silence on the injected clock: installing → installer.stalled (silence) → installer.resumed; a dialog line stalls at once; a fatal line fails")
    func silenceAndDialogs() throws {
        let sink = Sink(), clock = ManualClock()
        let (recorder, writer) = Self.recorder(sink, clock: clock)
        let machine = try Self.choose(recorder)
        _ = recorder.http(.preseedSent(machine: machine, entry: "debian-12-auto", remote: Self.ip))
        try Self.send(recorder, "<14>Dec  6 05:37:02 main-menu[256]: INFO: Menu item 'download-installer' selected\n")
        clock.advance(299)
        recorder.checkSilences()
        writer.flush()
        #expect(!sink.milestones.contains { $0.kind == "installer.stalled" }, "299 s is not 300")
        clock.advance(1)
        recorder.checkSilences()
        recorder.checkSilences()
        writer.flush()
        let silent = sink.milestones.filter { $0.kind == "installer.stalled" }
        #expect(silent.count == 1, "stalled once, however many checks")
        #expect(silent.first?.fields["GARAGE_PXE_CAUSE"] == "silence")
        #expect(silent.first?.fields["GARAGE_PXE_REASON"] == "aucune ligne de l'installateur depuis 5 min (une question attend peut-être à l'écran)")
        #expect(silent.first?.fields["PRIORITY"] == "4")
        #expect(silent.first?.fields["GARAGE_PXE_STEP"] == "download-installer")

        try Self.send(recorder, "<13>Dec  6 05:43:10 anna-install: Queueing udeb apt-mirror-setup for later installation\n")
        try Self.send(recorder, "<12>Dec  6 05:43:11 anna[1833]: WARNING **: package retrieval failed\n")
        writer.flush()
        #expect(sink.milestones.suffix(2).map(\.kind) == ["installer.resumed", "installer.stalled"])
        let dialog = try #require(sink.milestones.last)
        #expect(dialog.fields["GARAGE_PXE_CAUSE"] == "component-download")
        #expect(dialog.fields["GARAGE_PXE_REASON"] == "téléchargement d'un composant depuis le miroir a échoué")
        #expect(dialog.fields["GARAGE_PXE_INSTALLER_LINE"] == "anna[1833]: WARNING **: package retrieval failed")
        #expect(dialog.fields["GARAGE_PXE_STAGE"] == "anna")
        // Silent on its dialog: no second stall for the same wait.
        clock.advance(10_000)
        recorder.checkSilences()
        writer.flush()
        #expect(sink.milestones.filter { $0.kind == "installer.stalled" }.count == 2)

        // Someone chose "Réessayer" and it went on, then GRUB could not be installed.
        try Self.send(recorder, "<14>Dec  6 06:01:00 main-menu[256]: INFO: Menu item 'grub-installer' selected\n")
        try Self.send(recorder, "<13>Dec  6 06:09:00 grub-installer: error: Running 'grub-install  --force \"/dev/sda\"' failed.\n")
        writer.flush()
        #expect(sink.milestones.suffix(3).map(\.kind) == ["installer.resumed", "installer.step", "installer.failed"])
        let failed = try #require(sink.milestones.last)
        #expect(failed.fields["PRIORITY"] == "3")
        #expect(failed.fields["GARAGE_PXE_REASON"] == "GRUB n'a pas pu être installé sur le disque")
        #expect(failed.fields["GARAGE_PXE_STEP"] == "bootloader")
        #expect(failed.fields["GARAGE_PXE_INSTALL_ID"] == silent.first?.fields["GARAGE_PXE_INSTALL_ID"])
        // The install ended: its silence is nobody's business.
        clock.advance(10_000)
        recorder.checkSilences()
        writer.flush()
        #expect(sink.milestones.last?.kind == "installer.failed")

        // The rows fold it: stalled with its reason, then failed.
        let records = sink.all.enumerated().map { index, written in
            JournalRecord(realtimeMicroseconds: UInt64(index + 1), message: "", priority: Int(written.fields["PRIORITY"] ?? "6") ?? 6,
                          fields: written.fields.filter { $0.key.hasPrefix("GARAGE_PXE_") })
        }
        let stalledAt = try #require(records.lastIndex { $0.kind == .installerStalled })
        let stalledRow = try #require(MachineSummary.summarize(Array(records[...stalledAt])).first)
        #expect(stalledRow.result == "stalled")
        #expect(stalledRow.stalledReason == "téléchargement d'un composant depuis le miroir a échoué")
        let resumedRow = try #require(MachineSummary.summarize(Array(records[...(stalledAt + 2)])).first)
        #expect(resumedRow.result == "installing" && resumedRow.stalledReason == nil)
        #expect(MachineSummary.summarize(records).first?.result == "failed")
    }

    @Test("a restart mid-stall: the open install stays started and stalled, the next line resumes it (the start-up read without the installer's own lines asks for them per open install)",
          arguments: [false, true])
    func restoredAfterRestart(withoutInstallerLines: Bool) throws {
        let sink = Sink(), clock = ManualClock()
        let (first, firstWriter) = Self.recorder(sink, clock: clock)
        _ = try Self.choose(first)
        try Self.send(first, "<14>Dec  6 05:37:02 main-menu[256]: INFO: Menu item 'download-installer' selected\n")
        try Self.send(first, "<12>Dec  6 05:43:11 anna[1833]: WARNING **: package retrieval failed\n")
        firstWriter.flush()
        let records = sink.all.enumerated().map { index, written in
            JournalRecord(realtimeMicroseconds: UInt64(index + 1), message: "", priority: 6,
                          fields: written.fields.filter { $0.key.hasPrefix("GARAGE_PXE_") })
        }
        let after = Sink()
        let (second, secondWriter) = Self.recorder(after, clock: clock)
        if withoutInstallerLines {
            // As the daemon reads at start: no installer.log; asked per open install instead.
            var asked: [String] = []
            second.restoreOpenInstalls(from: records.filter { $0.kind != .installerLog }) { mac, id in
                asked.append(mac)
                return records.contains { $0.kind == .installerLog && $0[.mac] == mac && $0[.installID] == id }
            }
            #expect(asked == [Self.mac])
        } else {
            second.restoreOpenInstalls(from: records)
        }
        // Its IP is learnt again from a line's neighbour lookup, as after a real restart.
        second.installerSyslog(try InstallerSyslog.parse(Array("<14>Dec  6 06:01:00 main-menu[256]: INFO: Menu item 'choose-mirror' selected\n".utf8)).get(),
                               from: Self.ip, neighbourMAC: { _ in Self.mac })
        secondWriter.flush()
        #expect(after.milestones.map(\.kind) == ["installer.resumed", "installer.step"], "no second installer.started")
        #expect(Set(after.milestones.compactMap { $0.fields["GARAGE_PXE_INSTALL_ID"] })
                == Set(sink.milestones.compactMap { $0.fields["GARAGE_PXE_INSTALL_ID"] }))
    }
}
