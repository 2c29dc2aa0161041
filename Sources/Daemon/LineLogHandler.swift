// The daemon's log lines: `TIME LEVEL message key=value …` on stderr, one write per line.
// Under systemd (JOURNAL_STREAM set) the line starts with the `<N>` priority prefix that
// journald reads, and carries no timestamp (journald adds its own). Written here rather
// than using swift-log's StreamLogHandler because that one formats local time on every
// line, which costs a stat of /etc/localtime per DHCP reply (measured: a fifth of the
// proxy's CPU time under load).
// The message and every metadata key and value pass through LogText.escaped: they carry
// text from the network (option 60/77, TFTP file names, HTTP query values), and one event
// must stay one line with the daemon's own `<N>` (a newline followed by `<0>` would
// otherwise be a second, emergency, line to journald).

#if canImport(Glibc)
import Glibc
#endif
import InstallJournal
import Logging

public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let toJournal: Bool

    public init(label: String, level: Logger.Level, toJournal: Bool = getenv("JOURNAL_STREAM") != nil) {
        self.label = label
        self.logLevel = level
        self.toJournal = toJournal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Built as bytes, straight into the buffer that is written: one line per DHCP
        // reply makes this the proxy's hottest path after the socket calls.
        var line: [UInt8] = []
        line.reserveCapacity(320)
        if toJournal {
            line.append(UInt8(ascii: "<"))
            line.append(UInt8(ascii: "0") + UInt8(Self.syslogPriority(event.level)))
            line.append(UInt8(ascii: ">"))
        } else {
            Self.appendUTCTimestamp(to: &line)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: event.level.rawValue.utf8)
            line.append(UInt8(ascii: " "))
        }
        LogText.appendEscaped(event.message.description, to: &line)
        let merged: Logger.Metadata
        if let own = event.metadata {
            merged = metadata.isEmpty ? own : metadata.merging(own) { $1 }
        } else {
            merged = metadata
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line.append(UInt8(ascii: " "))
            LogText.appendEscaped(key, to: &line)
            line.append(UInt8(ascii: "="))
            LogText.appendEscaped(value.description, to: &line)
        }
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// ISO 8601 in UTC from the realtime clock: no time-zone file is consulted.
    static func utcTimestamp() -> String {
        var bytes: [UInt8] = []
        appendUTCTimestamp(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `2026-12-06T12:34:56.789Z`, appended as ASCII digits.
    static func appendUTCTimestamp(to out: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var v = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
                v %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(Int(now.tv_nsec / 1_000_000), 3); out.append(UInt8(ascii: "Z"))
    }
}
