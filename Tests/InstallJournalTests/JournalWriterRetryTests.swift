import Foundation
@testable import InstallJournal
import Testing

/// JournalWriter while journald is unreachable, with an injected `send` standing in for
/// sd_journal_sendv's contract (0 or a negative errno); the real journald restart is in
/// JournaldRestartTests.
@Suite("journal writer: journald restarts")
struct JournalWriterRetryTests {
    /// Refuses with -ECONNREFUSED (journald's socket has no reader) until `up`, then keeps
    /// every event's step in order.
    final class RestartingJournal: @unchecked Sendable {
        private let lock = NSLock()
        private var isUp = false
        private var steps: [String] = []
        var up: Bool {
            get { lock.lock(); defer { lock.unlock() }; return isUp }
            set { lock.lock(); isUp = newValue; lock.unlock() }
        }
        var delivered: [String] { lock.lock(); defer { lock.unlock() }; return steps }
        func send(_ fields: [String]) -> Int32 {
            lock.lock()
            defer { lock.unlock() }
            guard isUp else { return -ECONNREFUSED }
            steps.append(fields.first { $0.hasPrefix("GARAGE_PXE_STEP=") }.map { String($0.dropFirst(16)) } ?? "?")
            return 0
        }
    }

    static func step(_ name: String) -> InstallEvent { InstallEvent(.installerStep, fields: [.mac: "52:54:00:12:34:56", .step: name]) }

    @Test("events written while journald is down are sent once, in order, on the next write; none to stderr")
    func retriedOnNextWrite() {
        let journal = RestartingJournal()
        let lines = Lines()
        let writer = JournalWriter(retryInterval: .seconds(3600), send: { journal.send($0) }, fallback: { lines.append($0) })
        for i in 1...5 { writer.write(Self.step("s\(i)")) }
        writer.settle()
        #expect(writer.bufferedEvents == 5)
        #expect(journal.delivered.isEmpty)
        journal.up = true
        writer.write(Self.step("s6"))
        writer.settle()
        #expect(journal.delivered == (1...6).map { "s\($0)" })
        #expect(writer.bufferedEvents == 0)
        #expect(writer.fallbackEvents == 0)
        #expect(lines.all.isEmpty)
    }

    @Test("with no new event, the retry timer sends the buffer once journald is back")
    func retriedOnTimer() throws {
        let journal = RestartingJournal()
        let lines = Lines()
        let writer = JournalWriter(retryInterval: .milliseconds(5), send: { journal.send($0) }, fallback: { lines.append($0) })
        for i in 1...3 { writer.write(Self.step("s\(i)")) }
        writer.settle()
        #expect(writer.bufferedEvents == 3)
        journal.up = true
        // Bounded wait for the timer; no assertion on how long it took.
        for _ in 0..<24_000 where writer.bufferedEvents > 0 { usleep(5_000) }  // at most 120 s
        #expect(journal.delivered == ["s1", "s2", "s3"])
        #expect(writer.bufferedEvents == 0)
        #expect(writer.fallbackEvents == 0)
        #expect(lines.all.isEmpty)
    }

    @Test("beyond the buffer's cap, new events go to stderr and are counted; the buffered ones still reach the journal")
    func overflow() {
        let journal = RestartingJournal()
        let lines = Lines()
        let writer = JournalWriter(maximumUnsent: 3, retryInterval: .seconds(3600), send: { journal.send($0) }, fallback: { lines.append($0) })
        for i in 1...5 { writer.write(Self.step("s\(i)")) }
        writer.settle()
        #expect(writer.bufferedEvents == 3)
        #expect(writer.fallbackEvents == 2)
        #expect(lines.all.count == 2)
        #expect(lines.all.allSatisfy { $0.contains("JOURNAL_ERROR=\"journald unreachable, buffer full\"") })
        #expect(lines.all.first?.contains("GARAGE_PXE_STEP=s4") == true)
        #expect(lines.all.last?.contains("GARAGE_PXE_STEP=s5") == true)
        journal.up = true
        writer.flush()
        #expect(journal.delivered == ["s1", "s2", "s3"])
        #expect(writer.fallbackEvents == 2)
    }

    @Test("flush at stop sends the buffer if it can and gives the rest to stderr, in order")
    func flushAtStop() {
        let journal = RestartingJournal()
        let lines = Lines()
        let writer = JournalWriter(retryInterval: .seconds(3600), send: { journal.send($0) }, fallback: { lines.append($0) })
        writer.write(Self.step("s1"))
        writer.write(Self.step("s2"))
        writer.flush()
        #expect(writer.bufferedEvents == 0)
        #expect(writer.fallbackEvents == 2)
        #expect(lines.all.map { $0.contains("GARAGE_PXE_STEP=s1") } == [true, false])
        #expect(lines.all.allSatisfy { $0.contains("JOURNAL_ERROR=\"Connection refused\"") })
        journal.up = true
        writer.write(Self.step("s3"))
        writer.flush()
        #expect(journal.delivered == ["s3"], "events given to stderr are not sent twice")
    }

    @Test("an event journald rejects for its own sake goes to stderr at once and does not hold the others")
    func rejected() {
        let lines = Lines()
        let writer = JournalWriter(send: { fields in fields.contains("GARAGE_PXE_STEP=bad") ? -EINVAL : 0 }, fallback: { lines.append($0) })
        writer.write(Self.step("bad"))
        writer.write(Self.step("good"))
        writer.settle()
        #expect(writer.bufferedEvents == 0)
        #expect(writer.fallbackEvents == 1)
        #expect(lines.all.first?.contains("JOURNAL_ERROR=\"Invalid argument\"") == true)
    }
}
