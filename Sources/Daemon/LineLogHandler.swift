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
        var line = ""
        line.reserveCapacity(256)
        if toJournal {
            line += "<\(Self.syslogPriority(event.level))>"
        } else {
            line += Self.utcTimestamp() + " " + event.level.rawValue + " "
        }
        line += LogText.escaped(event.message.description)
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for key in merged.keys.sorted() {
            line += " " + LogText.escaped(key) + "=" + LogText.escaped(merged[key]!.description)
        }
        line += "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
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
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}
