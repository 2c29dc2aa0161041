@testable import Daemon
import BootMenus
import Foundation
import InstallJournal
import Logging
import Testing

@Suite("install once: the daemon's decision")
struct InstallOnceTrackerTests {
    static let mac = "52:54:00:ab:cd:21"

    /// A journal answer: the machine's newest deciding event at `seconds`.
    static func record(_ kind: InstallEventKind, at seconds: UInt64) -> JournalRecord {
        JournalRecord(realtimeMicroseconds: seconds * 1_000_000, message: "", priority: kind.priority,
                      fields: ["GARAGE_PXE_MAC": mac, "GARAGE_PXE_EVENT": kind.rawValue])
    }

    final class Answers: @unchecked Sendable {
        let lock = NSLock()
        var journal: JournalRecord?
        var unreadable = false
        var clock: Double = 0
    }

    static func tracker(_ answers: Answers) -> InstallOnceTracker {
        InstallOnceTracker(logger: Logger(label: "test"), now: { answers.lock.withLock { Date(timeIntervalSince1970: answers.clock) } },
                           lookup: { _ throws(JournalReadError) in
                               let (unreadable, journal) = answers.lock.withLock { (answers.unreadable, answers.journal) }
                               if unreadable { throw JournalReadError(description: "Permission denied") }
                               return journal
                           })
    }

    @Test("the journal decides: finished or delivered is installed; rearmed or a new installer start is not")
    func fromJournal() {
        let answers = Answers()
        let tracker = Self.tracker(answers)
        #expect(!tracker.isInstalled(mac: Self.mac))
        for (kind, installed) in [(InstallEventKind.installerFinished, true), (.machineDelivered, true),
                                  (.machineRearmed, false), (.installerStarted, false)] {
            answers.journal = Self.record(kind, at: 100)
            #expect(tracker.isInstalled(mac: Self.mac) == installed, "\(kind)")
        }
    }

    @Test("the daemon's own write counts before journald has it; a newer journal event (a CLI rearm) wins over it")
    func ownWritesAndNewerJournal() {
        let answers = Answers()
        let tracker = Self.tracker(answers)
        answers.journal = Self.record(.installerFinished, at: 100)
        answers.clock = 200
        tracker.noteWritten(.machineRearmed, mac: Self.mac)
        #expect(!tracker.isInstalled(mac: Self.mac), "the bench's rearm, not yet in the journal")
        tracker.noteWritten(.menuShown, mac: Self.mac)
        #expect(!tracker.isInstalled(mac: Self.mac), "kinds that do not decide change nothing")
        answers.journal = Self.record(.machineRearmed, at: 200)
        #expect(!tracker.isInstalled(mac: Self.mac), "a tie is the same event")
        answers.journal = Self.record(.installerFinished, at: 300)
        #expect(tracker.isInstalled(mac: Self.mac), "a newer finished install in the journal")
    }

    @Test("an unreadable journal: this run's own writes still answer")
    func unreadable() {
        let answers = Answers()
        answers.unreadable = true
        let tracker = Self.tracker(answers)
        #expect(!tracker.isInstalled(mac: Self.mac))
        answers.clock = 10
        tracker.noteWritten(.installerFinished, mac: Self.mac)
        #expect(tracker.isInstalled(mac: Self.mac))
    }

    @Test("check warns when install_once cannot do what it says with the menu")
    func checkWarnings() {
        let disk = MenuEntry(id: "disque", label: "Disque", kind: .localDisk)
        let auto = MenuEntry(id: "auto", label: "Installer", kind: .debianInstaller, image: "img")
        var config = GaragePXEConfig()
        let withDisk = BootMenu(title: "t", timeoutSeconds: 5, defaultEntry: "auto", entries: [auto, disk])
        let withoutDisk = BootMenu(title: "t", timeoutSeconds: 5, defaultEntry: "auto", entries: [auto])
        #expect(BootContentLoader.installOnceProblem(config, menu: withDisk) == nil)
        #expect(BootContentLoader.installOnceProblem(config, menu: withoutDisk)?.contains("no local-disk entry") == true)
        config.installOnce.entry = "nope"
        #expect(BootContentLoader.installOnceProblem(config, menu: withDisk)?.contains("'nope' is not an entry") == true)
        config.installOnce.enabled = false
        #expect(BootContentLoader.installOnceProblem(config, menu: withoutDisk) == nil)
    }
}
