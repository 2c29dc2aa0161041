import Foundation
import InstallJournal
import Testing

/// A clock the test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}

/// The live bench view as a pure fold: fixtures in, rows out, time moved by hand.
@Suite("bench view")
struct BenchViewTests {
    static let mac = "52:54:00:aa:00:01"

    func event(_ kind: InstallEventKind, mac: String = mac, _ extra: [InstallField: String] = [:]) -> InstallEvent {
        var fields: [InstallField: String] = [.mac: mac, .site: "Atelier Garage"]
        fields.merge(extra) { $1 }
        return InstallEvent(kind, fields: fields)
    }

    @Test("a whole install walks the progress bar; durations come from the attempt's first event")
    func progress() {
        let clock = TestClock()
        let view = BenchView(now: { clock.now })
        view.record(event(.dhcpOffer))
        clock.advance(5)
        view.record(event(.menuShown, [.serial: "PF0ABC12", .manufacturer: "LENOVO", .product: "ThinkCentre M720q"]))
        view.record(event(.menuChosen, [.installID: "attempt-1", .entry: "debian-13-auto"]))
        #expect(view.rows().first?.stage == .menuChosen)
        #expect(view.rows().first?.stagePosition == 3)
        clock.advance(60)
        view.record(event(.installerStep, [.installID: "attempt-1", .step: "partman"]))
        // Raw installer lines are the journal's business, not a stage.
        view.record(event(.installerLog, [.installID: "attempt-1"]))
        clock.advance(600)
        view.record(event(.installerFinished, [.installID: "attempt-1"]))
        let row = view.rows()
        #expect(row.count == 1)
        #expect(row[0].stage == .installerFinished && row[0].stagePosition == 7)
        #expect(row[0].summary.result == "finished" && row[0].summary.serial == "PF0ABC12")
        #expect(row[0].step == "partman")
        #expect(row[0].summary.elapsedSeconds == 660)
        #expect(row[0].failure == nil)
        #expect(view.machine(mac: Self.mac)?.events.count == 5, "the installer.log line is not kept")
    }

    @Test("failures name the failing step and reason; a TFTP failure shows on its stage")
    func failures() {
        let clock = TestClock()
        let view = BenchView(now: { clock.now })
        view.record(event(.menuChosen, [.installID: "a"]))
        view.record(event(.installerStep, [.installID: "a", .step: "partman"]))
        view.record(event(.installerFailed, [.installID: "a", .reason: "Configuring 'partman' failed with error code 1"]))
        view.record(event(.tftpFailed, mac: "52:54:00:aa:00:02", [.file: "ipxe.efi", .reason: "timedOut"]))
        let rows = view.rows()
        let installer = rows.first { $0.summary.mac == Self.mac }
        #expect(installer?.failure == BenchFailure(event: "installer.failed", step: "partman", reason: "Configuring 'partman' failed with error code 1"))
        #expect(installer?.stage == .installerStep)
        let tftp = rows.first { $0.summary.mac == "52:54:00:aa:00:02" }
        #expect(tftp?.failure == BenchFailure(event: "tftp.failed", step: "ipxe.efi", reason: "timedOut"))
        #expect(tftp?.stage == .tftpSent)
        // A new attempt clears the red.
        view.record(event(.menuChosen, [.installID: "b"]))
        #expect(view.rows().first { $0.summary.mac == Self.mac }?.failure == nil)
    }

    @Test("only the last 24 h: rebuilt records and live ones both fall out of the window")
    func window() {
        let clock = TestClock()
        let view = BenchView(now: { clock.now })
        let old = JournalRecord(event(.dhcpOffer, mac: "52:54:00:aa:00:09"), at: clock.now.addingTimeInterval(-90_000))
        let recent = JournalRecord(event(.menuShown), at: clock.now.addingTimeInterval(-3_600))
        view.rebuild(from: [old, recent])
        #expect(view.rows().map(\.summary.mac) == [Self.mac])
        #expect(view.machine(mac: "52:54:00:aa:00:09") == nil)
        clock.advance(86_400 - 3_600 + 1)
        #expect(view.rows().isEmpty)
        #expect(view.machine(mac: Self.mac) == nil)
    }

    @Test("rows kept between events equal a fresh fold of the same events")
    func cachedRowsMatchFreshFold() {
        let clock = TestClock()
        let live = BenchView(now: { clock.now })
        let macs = ["52:54:00:aa:00:01", "52:54:00:aa:00:02", "52:54:00:aa:00:03"]
        let kinds: [InstallEventKind] = [.dhcpOffer, .menuShown, .menuChosen, .installerStep, .installerFailed, .menuChosen, .installerFinished]
        var all: [JournalRecord] = []
        for (i, kind) in kinds.enumerated() {
            for mac in macs.prefix(i % 3 + 1) {
                clock.advance(7)
                let record = JournalRecord(event(kind, mac: mac, [.installID: "\(mac)-\(i / 5)", .step: "s\(i)"]), at: clock.now)
                all.append(record)
                live.record(record)
                _ = live.rows() // fills the per-machine cache between events
            }
        }
        let fresh = BenchView(now: { clock.now })
        fresh.rebuild(from: all)
        #expect(live.rows() == fresh.rows())
        #expect(live.rows().map(\.summary) == MachineSummary.summarize(all))
    }

    @Test("a machine in a boot loop keeps a bounded number of events")
    func boundedEvents() {
        let view = BenchView(maximumEventsPerMachine: 10)
        for _ in 0..<50 { view.record(event(.dhcpOffer)) }
        #expect(view.machine(mac: Self.mac)?.events.count == 10)
    }

    @Test("subscribers hear every change until they unsubscribe; daemon events are not machines")
    func subscribers() {
        let view = BenchView()
        let count = Counter()
        let token = view.subscribe { count.increment() }
        #expect(view.subscriberCount == 1)
        view.record(event(.dhcpOffer))
        view.record(InstallEvent(.daemonStarted, fields: [.site: "x"]))
        #expect(count.value == 1)
        view.unsubscribe(token)
        view.record(event(.tftpSent))
        #expect(count.value == 1)
        #expect(view.subscriberCount == 0)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
