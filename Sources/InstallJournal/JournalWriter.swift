// Writes install events to journald with sd_journal_sendv (Swift cannot call C variadics,
// so each field is one iovec). Writes happen on the writer's own queue: a slow or wedged
// journald never holds up a DHCP reply or a TFTP block. When journald is unreachable (being
// restarted, say), events wait in a bounded buffer and are sent again, in order, on the next
// write and on a timer, so a journald restart loses nothing. An event goes to stderr as one
// `KEY=value …` line, and is counted, only when it is given up: the buffer or the backlog is
// full, journald rejects it for another reason, or it is still unsent at `flush()` (stop).
// Nothing is lost silently and nothing blocks a boot.

import CSystemd
import Dispatch
import Foundation

public final class JournalWriter: @unchecked Sendable {
    /// Sends one event's `KEY=value` fields; returns 0 or a negative errno (sd_journal_sendv's contract).
    public typealias Send = @Sendable (_ fields: [String]) -> Int32
    public typealias Fallback = @Sendable (_ line: String) -> Void

    private let send: Send
    private let fallback: Fallback
    private let queue = DispatchQueue(label: "garage-pxe.journal-writer")
    /// Beyond this many queued events, new ones take the stderr path at once.
    private let maximumBacklog: Int
    private let lock = NSLock()
    private var backlog = 0
    private var fallbackCount = 0
    /// Events journald could not take yet, oldest first; only touched on `queue`.
    private var unsent: [[String]] = []
    /// Beyond this many unsent events, a new one goes to stderr: the buffer keeps the oldest,
    /// so what reaches the journal is an unbroken run in the order written.
    private let maximumUnsent: Int
    private let retryInterval: DispatchTimeInterval
    /// Armed while `unsent` is not empty, so events wait no longer than `retryInterval` once
    /// journald is back even if no new event comes to trigger a retry.
    private var retryTimer: DispatchSourceTimer?
    private var unsentCount = 0
    /// Why journald last refused (e.g. "Connection refused"), for the stderr lines of events
    /// still unsent at `flush()`. On `queue`.
    private var unreachableError = "journald unreachable"
    private var observers: [@Sendable (InstallEvent) -> Void] = []

    public init(maximumBacklog: Int = 10_000, maximumUnsent: Int = 10_000, retryInterval: DispatchTimeInterval = .seconds(1),
                send: @escaping Send = JournalWriter.sendToJournald,
                fallback: @escaping Fallback = JournalWriter.writeToStandardError) {
        self.maximumBacklog = maximumBacklog
        self.maximumUnsent = maximumUnsent
        self.retryInterval = retryInterval
        self.send = send
        self.fallback = fallback
    }

    deinit {
        // A resumed dispatch source lives on until cancelled.
        retryTimer?.cancel()
    }

    /// Events that went to stderr instead of the journal.
    public var fallbackEvents: Int {
        lock.lock()
        defer { lock.unlock() }
        return fallbackCount
    }

    /// Events waiting for journald to come back (not yet in the journal, not on stderr).
    public var bufferedEvents: Int {
        lock.lock()
        defer { lock.unlock() }
        return unsentCount
    }

    /// Also hands every event to `observer` (the live bench view), on the writer's caller
    /// thread as it is written, whether or not journald then takes it.
    public func addObserver(_ observer: @escaping @Sendable (InstallEvent) -> Void) {
        lock.lock()
        observers.append(observer)
        lock.unlock()
    }

    public func write(_ event: InstallEvent) {
        lock.lock()
        let observers = self.observers
        lock.unlock()
        for observer in observers { observer(event) }
        let fields = event.journalFields.map { "\($0.key)=\($0.value)" }
        lock.lock()
        let full = backlog >= maximumBacklog
        if !full { backlog += 1 }
        lock.unlock()
        if full {
            writeFallback(fields, error: "backlog full")
            return
        }
        queue.async { [self] in
            // The event leaves the backlog once handled, not before: a send that hangs (a
            // wedged journald) must keep counting, so the next writes take the stderr path.
            defer {
                lock.lock()
                backlog -= 1
                lock.unlock()
            }
            // Older unsent events go first; if journald still refuses them, this one queues
            // behind them rather than overtaking them.
            sendUnsent()
            if unsent.isEmpty {
                let result = send(fields)
                if result >= 0 { return }
                guard Self.isUnreachable(result) else {
                    writeFallback(fields, error: String(cString: strerror(-result)))
                    return
                }
                unreachableError = String(cString: strerror(-result))
            }
            guard unsent.count < maximumUnsent else {
                writeFallback(fields, error: "journald unreachable, buffer full")
                return
            }
            unsent.append(fields)
            updateUnsent()
        }
    }

    /// Waits until every event written so far has been handled, tries once more to send those
    /// journald could not take, and gives what is still unsent to stderr (tests, rearm, stop):
    /// after it returns, every event is in the journal or on stderr.
    public func flush() {
        queue.sync {
            sendUnsent()
            for fields in unsent { writeFallback(fields, error: unreachableError) }
            unsent.removeAll()
            updateUnsent()
        }
    }

    /// Waits until every event written so far is in the journal, buffered or on stderr,
    /// without giving up buffered ones (tests).
    func settle() {
        queue.sync {}
    }

    /// Errors that mean journald is not there (stopped, restarting, socket gone or full), as
    /// opposed to rejecting this event: worth sending the same event again later.
    static func isUnreachable(_ result: Int32) -> Bool {
        [ECONNREFUSED, ENOENT, EAGAIN, EWOULDBLOCK, ENOBUFS, ECONNRESET, ENOTCONN, EPIPE].contains(-result)
    }

    /// Sends unsent events in order until journald refuses one as unreachable. On `queue`.
    private func sendUnsent() {
        var sent = 0
        defer {
            if sent > 0 { unsent.removeFirst(sent); updateUnsent() }
        }
        for fields in unsent {
            let result = send(fields)
            if result < 0 {
                if Self.isUnreachable(result) {
                    unreachableError = String(cString: strerror(-result))
                    return
                }
                writeFallback(fields, error: String(cString: strerror(-result)))
            }
            sent += 1
        }
    }

    /// Publishes the buffer's size and arms the retry timer while it is not empty. On `queue`.
    private func updateUnsent() {
        lock.lock()
        unsentCount = unsent.count
        lock.unlock()
        if unsent.isEmpty {
            retryTimer?.cancel()
            retryTimer = nil
        } else if retryTimer == nil {
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + retryInterval, repeating: retryInterval)
            timer.setEventHandler { [weak self] in self?.sendUnsent() }
            retryTimer = timer
            timer.resume()
        }
    }

    private func writeFallback(_ fields: [String], error: String) {
        lock.lock()
        fallbackCount += 1
        lock.unlock()
        fallback(Self.fallbackLine(fields, error: error))
    }

    /// `garage-pxe-event JOURNAL_ERROR="…" MESSAGE="…" MESSAGE_ID=… GARAGE_PXE_…=…`: one line
    /// whatever the values hold (they come from the network): each value is escaped with
    /// LogText (controls as `\xNN`, `\` as `\\`), then double-quoted, with `"` as `\"`, when it
    /// is empty or holds a space, `"`, `=` or `\`. MESSAGE arrives already escaped (see
    /// InstallEvent.journalFields) and is escaped again, like every value: the line stays the
    /// exact journal fields, decodable without knowing which field is which.
    public static func fallbackLine(_ fields: [String], error: String) -> String {
        func quoted(_ value: String) -> String {
            let value = LogText.escaped(value)
            guard value.isEmpty || value.utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x5C }) else {
                return value
            }
            return "\"" + value.replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var parts = ["garage-pxe-event", "JOURNAL_ERROR=\(quoted(error))"]
        for field in fields {
            // The first `=` byte, not Character: a value starting with a combining mark
            // would fuse with the `=` into one Character and hide it.
            guard let equals = field.utf8.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let value = field.utf8[field.utf8.index(after: equals)...]
            parts.append(String(decoding: field.utf8[..<equals], as: UTF8.self) + "=" + quoted(String(decoding: value, as: UTF8.self)))
        }
        return parts.joined(separator: " ") + "\n"
    }

    /// All fields in one buffer, one iovec per field pointing into it, so a single pinned
    /// pointer covers the whole call.
    public static let sendToJournald: Send = { fields in
        var storage: [UInt8] = []
        var ranges: [Range<Int>] = []
        for field in fields {
            let start = storage.count
            storage.append(contentsOf: field.utf8)
            ranges.append(start..<storage.count)
        }
        return storage.withUnsafeMutableBytes { raw in
            let iovecs = ranges.map { range in iovec(iov_base: raw.baseAddress.map { $0 + range.lowerBound }, iov_len: range.count) }
            return iovecs.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    /// Whether stderr is the journal stream systemd gave us: JOURNAL_STREAM names its
    /// device:inode, and an inherited variable (a child of a service) no longer matches.
    public static func standardErrorIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":").compactMap { UInt64($0) }
        var info = stat()
        guard parts.count == 2, fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == parts[0] && UInt64(info.st_ino) == parts[1]
    }

    /// Whether journald's socket exists and accepts: events sent now would be journaled,
    /// whoever started us (systemd or a shell).
    public static func journalReachable(socketPath: String = "/run/systemd/journal/socket") -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8CString)
        guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            path.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return connected == 0
    }

    public static let writeToStandardError: Fallback = { line in
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = Foundation.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
