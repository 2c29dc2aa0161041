// The recorder's memory of a machine across requests: later requests carry less than the
// menu request (the preseed URL has only the MAC), and their events must still say what
// the machine is. The writer's sink is a closure here; the journald path has its own
// tests with a private journald (InstallJournalTests).

import BootHTTP
import BootMenus
import Daemon
import Foundation
import InstallJournal
import NetworkAddresses
import Testing

@Suite struct InstallEventRecorderTests {
    final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [[String]] = []
        func add(_ fields: [String]) { lock.lock(); events.append(fields); lock.unlock() }
        var all: [[String]] { lock.lock(); defer { lock.unlock() }; return events }
    }

    @Test func preseedRequestKeepsThePlatformTheMenuRequestGave() throws {
        let sink = Sink()
        let writer = JournalWriter(send: { sink.add($0); return 0 })
        let recorder = InstallEventRecorder(writer: writer, site: "Atelier")
        let mac = try #require(MACAddress("52:54:00:aa:bb:01"))
        let menuRequest = MachineIdentity(mac: mac, platform: .efi, buildArchitecture: "x86_64", serial: "PF0ABC12")
        // What /preseed/ENTRY.cfg?mac=… parses to: the MAC and the default platform.
        let preseedRequest = MachineIdentity(mac: mac, platform: .bios)
        #expect(recorder.http(.menuShown(machine: menuRequest, entry: nil, remote: "10.0.0.5", proven: true)))
        #expect(recorder.http(.entryChosen(machine: menuRequest, entry: "debian", remote: "10.0.0.5", proven: true, installs: true)))
        #expect(recorder.http(.preseedSent(machine: preseedRequest, entry: "debian", remote: "10.0.0.7")))
        writer.flush()
        let started = try #require(sink.all.first { $0.contains("GARAGE_PXE_EVENT=installer.started") })
        #expect(started.contains("GARAGE_PXE_PLATFORM=efi"))
        #expect(started.contains("GARAGE_PXE_SERIAL=PF0ABC12"))
        #expect(started.contains("GARAGE_PXE_IP=10.0.0.7"))
        let chosen = try #require(sink.all.first { $0.contains("GARAGE_PXE_EVENT=menu.chosen") })
        let id = try #require(chosen.first { $0.hasPrefix("GARAGE_PXE_INSTALL_ID=") })
        #expect(started.contains(id), "one install attempt, one INSTALL_ID")
    }

    /// The installed system's first boot comes after installer.finished ended the install:
    /// machine.delivered still names that install (one INSTALL_ID from start to delivery).
    @Test func firstBootCarriesTheEndedInstallsID() throws {
        let sink = Sink()
        let writer = JournalWriter(send: { sink.add($0); return 0 })
        let recorder = InstallEventRecorder(writer: writer, site: "Atelier")
        let mac = try #require(MACAddress("52:54:00:aa:bb:02"))
        let pc = MachineIdentity(mac: mac, platform: .bios)
        #expect(recorder.http(.entryChosen(machine: pc, entry: "debian", remote: "10.0.0.5", proven: true, installs: true)))
        #expect(recorder.http(.preseedSent(machine: pc, entry: "debian", remote: "10.0.0.5")))
        #expect(recorder.http(.progress(mac: mac.description, stage: "finished", remote: "10.0.0.5")))
        #expect(recorder.http(.menuShown(machine: pc, entry: "disque-local", remote: "10.0.0.9", proven: true)))
        #expect(recorder.http(.progress(mac: mac.description, stage: "first-boot", remote: "10.0.0.9")))
        writer.flush()
        let id = try #require(sink.all.first { $0.contains("GARAGE_PXE_EVENT=installer.started") }?.first { $0.hasPrefix("GARAGE_PXE_INSTALL_ID=") })
        let delivered = try #require(sink.all.first { $0.contains("GARAGE_PXE_EVENT=machine.delivered") })
        #expect(delivered.contains(id))
        let shown = try #require(sink.all.last { $0.contains("GARAGE_PXE_EVENT=menu.shown") })
        #expect(!shown.contains { $0.hasPrefix("GARAGE_PXE_INSTALL_ID=") }, "no install is open while the PC boots its disk")
    }
}
