// The Debian installer's own progress, as it reports it: `log_host=`/`log_port=` on its
// kernel command line make its busybox syslogd forward every line over UDP. This file is
// pure: one datagram in, one parsed line (or why it was refused) out; one line in, the
// install milestone it means (if any) out. The daemon owns the socket and the journal.
//
// What arrives, checked on a real bookworm installer (Tests/Fixtures/installer-syslog/):
// busybox syslogd forwards the local client's line untouched, i.e. RFC 3164 without a
// hostname, "<PRI>Mmm dd hh:mm:ss tag[pid]: message\n". Other relays (rsyslog, systemd's
// netlogger) send full RFC 3164 or RFC 5424, so both are read.

/// One syslog line, whatever the dialect.
public struct InstallerSyslogLine: Sendable, Equatable {
    /// 0 (kern) … 23 (local7).
    public var facility: Int
    /// 0 (emerg) … 7 (debug).
    public var severity: Int
    /// As sent: "Nov 22 03:41:07" (RFC 3164) or "2026-11-22T03:41:07.1Z" (RFC 5424); the
    /// installer's clock is often wrong, so it is kept for reading, never for ordering.
    public var timestamp: String?
    public var hostname: String?
    /// The tag ("main-menu") or RFC 5424 APP-NAME.
    public var appName: String?
    public var processID: String?
    public var message: String

    public init(facility: Int, severity: Int, timestamp: String? = nil, hostname: String? = nil,
                appName: String? = nil, processID: String? = nil, message: String) {
        self.facility = facility
        self.severity = severity
        self.timestamp = timestamp
        self.hostname = hostname
        self.appName = appName
        self.processID = processID
        self.message = message
    }

    /// "main-menu[412]: INFO: Menu item 'netcfg' selected": how the installer's own log file
    /// shows it, and what the journal's MESSAGE of an installer.log event holds.
    public var text: String {
        guard let appName else { return message }
        return appName + (processID.map { "[\($0)]" } ?? "") + ": " + message
    }
}

/// Why a datagram was not taken as a syslog line (each one is counted by the receiver).
public enum InstallerSyslogRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case oversize(bytes: Int)
    /// No "<PRI>" in front, or a PRI outside 0…191.
    case noPriority

    public var description: String {
        switch self {
        case .empty: "empty datagram"
        case .oversize(let bytes): "datagram of \(bytes) bytes, over \(InstallerSyslog.maximumDatagramBytes)"
        case .noPriority: "no <PRI> (0-191) at the start: not syslog"
        }
    }
}

/// A milestone of the install read from one line.
public enum InstallerMilestone: Sendable, Equatable {
    /// main-menu started a component: `step` is the workshop's name for it.
    case step(step: String, component: String)
    /// A component exited with an error; `reason` is the installer's own sentence.
    case failed(step: String, component: String, reason: String)
}

public enum InstallerSyslog {
    /// RFC 5424 asks receivers to take at least 2048 octets; anything far past a line
    /// is not the installer talking.
    public static let maximumDatagramBytes = 8192

    /// Parses one datagram (RFC 3164, busybox's hostname-less 3164, or RFC 5424).
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<InstallerSyslogLine, InstallerSyslogRefusal> {
        guard bytes.count <= maximumDatagramBytes else { return .failure(.oversize(bytes: bytes.count)) }
        // busybox ends each datagram with "\n"; some senders add "\r" or a NUL.
        var bytes = Array(bytes)
        while let last = bytes.last, last == 0x20 || last == 0x0a || last == 0x0d || last == 0x00 { bytes.removeLast() }
        guard !bytes.isEmpty else { return .failure(.empty) }
        // Kept exactly, controls included: the journal fields hold what the installer sent
        // (journald stores them binary-safe), and each line written for people escapes it.
        let text = LogText.decoded(utf8: bytes)
        guard let split = splitPriority(text[...]) else { return .failure(.noPriority) }
        let (priority, rest) = split
        var line = InstallerSyslogLine(facility: priority / 8, severity: priority % 8, message: "")
        if rest.hasPrefix("1 ") {
            parse5424(rest.dropFirst(2), into: &line)
        } else {
            parse3164(rest, into: &line)
        }
        return .success(line)
    }

    /// What the line means for the install, if anything: main-menu's "Menu item 'X'
    /// selected" (a step starts), "Configuring 'X' failed with error code N" (it failed).
    public static func milestone(_ line: InstallerSyslogLine) -> InstallerMilestone? {
        let message = line.message
        if let component = quoted(in: message, after: "Menu item '", before: "' selected"), line.appName == "main-menu" {
            return .step(step: step(forComponent: component), component: component)
        }
        if let component = quoted(in: message, after: "Configuring '", before: "' failed with error code") {
            // main-menu writes "WARNING **: Configuring …"; keep the installer's sentence only.
            let reason = message.firstRange(of: "Configuring '").map { String(message[$0.lowerBound...]) } ?? message
            return .failed(step: step(forComponent: component), component: component, reason: reason)
        }
        return nil
    }

    /// The workshop's step names for the installer's main-menu items (udeb names); any
    /// other item is its own step, under its udeb name.
    public static func step(forComponent component: String) -> String {
        switch component {
        case "netcfg", "netcfg-static", "ethdetect": "network"
        case "choose-mirror", "apt-mirror-setup": "mirror"
        case "bootstrap-base", "base-installer": "base-system"
        case "pkgsel", "tasksel": "software"
        case "grub-installer", "lilo-installer", "nobootloader", "elilo-installer": "bootloader"
        case "finish-install": "finish"
        case _ where component.hasPrefix("partman"): "partitioning"
        default: component
        }
    }

    // MARK: - Dialects

    /// "<PRI>" with 1 to 3 digits, value 0…191 (facility 23, severity 7 at most).
    private static func splitPriority(_ text: Substring) -> (Int, Substring)? {
        guard text.first == "<", let close = text.firstIndex(of: ">") else { return nil }
        let digits = text[text.index(after: text.startIndex)..<close]
        // Digits only: Int() alone would also take a sign ("<-5>", "<+5>"), which gave a
        // negative facility and severity (found by the fuzz-syslog target).
        guard (1...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits),
              value <= 191 else { return nil }
        return (value, text[text.index(after: close)...])
    }

    /// "1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD]… MSG", "-" for a missing value.
    private static func parse5424(_ text: Substring, into line: inout InstallerSyslogLine) {
        var rest = text
        func field() -> String? {
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            let value = String(rest[..<end])
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            return value == "-" || value.isEmpty ? nil : value
        }
        line.timestamp = field()
        line.hostname = field()
        line.appName = field()
        line.processID = field()
        _ = field() // MSGID
        rest = dropStructuredData(rest)
        if rest.hasPrefix(" ") { rest = rest.dropFirst() }
        if rest.hasPrefix("\u{FEFF}") { rest = rest.dropFirst() }
        line.message = String(rest)
    }

    /// "-" or one or more "[id k="v" …]" elements; "\]" inside a value does not close one.
    private static func dropStructuredData(_ text: Substring) -> Substring {
        if text.hasPrefix("-") { return text.dropFirst() }
        var rest = text
        while rest.first == "[" {
            var escaped = false, inValue = false
            var index = rest.index(after: rest.startIndex)
            while index < rest.endIndex {
                let c = rest[index]
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inValue.toggle() } else if c == "]" && !inValue { break }
                index = rest.index(after: index)
            }
            guard index < rest.endIndex else { return rest[rest.endIndex...] }
            rest = rest[rest.index(after: index)...]
        }
        return rest
    }

    /// "[Mmm dd hh:mm:ss ][HOSTNAME ]TAG[[PID]]: MSG". Without a hostname (busybox), the
    /// word after the time is already the tag: it ends with ":" or holds "[".
    private static func parse3164(_ text: Substring, into line: inout InstallerSyslogLine) {
        var rest = text
        if let timestamp = leading3164Timestamp(rest) {
            line.timestamp = String(timestamp)
            rest = rest[timestamp.endIndex...].drop(while: { $0 == " " })
        }
        guard let space = rest.firstIndex(of: " ") else {
            line.message = String(rest)
            return
        }
        var word = rest[..<space]
        if line.timestamp != nil, !word.hasSuffix(":"), !word.contains("["), !word.contains(":") {
            let afterHost = rest[rest.index(after: space)...]
            // A hostname is followed by a tag ("host tag: msg"); otherwise there was none.
            if let next = afterHost.firstIndex(of: " "), afterHost[..<next].hasSuffix(":") || afterHost[..<next].contains("[") {
                line.hostname = String(word)
                rest = afterHost
                word = rest[..<next]
            }
        }
        guard word.hasSuffix(":") || word.hasSuffix("]:") else {
            line.message = String(rest)
            return
        }
        var tag = word.dropLast()
        if tag.hasSuffix("]"), let open = tag.lastIndex(of: "[") {
            line.processID = String(tag[tag.index(after: open)..<tag.index(before: tag.endIndex)])
            tag = tag[..<open]
        }
        guard !tag.isEmpty, tag.count <= 48 else {
            line.message = String(rest)
            return
        }
        line.appName = String(tag)
        line.message = String(rest[word.endIndex...].dropFirst())
    }

    /// "Nov 22 03:41:07" or "Nov  2 03:41:07": 15 characters.
    private static func leading3164Timestamp(_ text: Substring) -> Substring? {
        let months: Set<Substring> = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let chars = Array(text.prefix(15))
        guard chars.count == 15, months.contains(text.prefix(3)), chars[3] == " ",
              chars[4] == " " || chars[4].isNumber, chars[5].isNumber, chars[6] == " ",
              chars[7].isNumber, chars[8].isNumber, chars[9] == ":", chars[10].isNumber, chars[11].isNumber,
              chars[12] == ":", chars[13].isNumber, chars[14].isNumber else { return nil }
        return text.prefix(15)
    }

    /// The text between `after` and `before`, when the message holds both in that order.
    static func quoted(in message: String, after: String, before: String) -> String? {
        guard let start = message.firstRange(of: after), let end = message[start.upperBound...].firstRange(of: before),
              start.upperBound < end.lowerBound else { return nil }
        let value = message[start.upperBound..<end.lowerBound]
        return value.contains("'") ? nil : String(value)
    }
}
