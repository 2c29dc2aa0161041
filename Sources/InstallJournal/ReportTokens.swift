// Proof for what a PC says about itself. A PC's own reports (the installer's preseed fetch,
// its late_command's progress calls, the installed system's first boot; later the
// diagnostic/erase environment's reports, issue 19) change what the server believes about
// that PC, and through install once what it boots next. Anyone on the bench LAN can send
// the same URLs with another PC's MAC, so each report must carry a `ReportToken`: a random
// secret the server made for that PC's boot session and put on that PC's kernel command
// line only (the preseed URL), from where the installer carries it into the preseed's
// URLs. The token is issued only to a request the kernel's neighbour table ties to the MAC
// it claims (the caller decides that), kept per machine and purpose in
// `paths.state/report-tokens.json` so an install outlives a daemon restart, and compared in
// constant time.

import Foundation

/// 128 random bits as 32 lowercase hex digits: the form it takes in URLs and the file.
public struct ReportToken: Sendable, Hashable, Codable, CustomStringConvertible {
    public static let hexDigits = 32
    public let text: String

    /// A fresh token from the system's CSPRNG (getrandom).
    public static func random() -> ReportToken {
        var generator = SystemRandomNumberGenerator()
        return ReportToken(checked: SecretText.hex((0..<hexDigits / 2).map { _ in UInt8.random(in: .min ... .max, using: &generator) }))
    }

    /// nil unless `text` has the token's exact form (so a malformed one is told apart from a wrong one).
    public init?(_ text: String) {
        guard SecretText.isLowercaseHex(text, length: Self.hexDigits) else { return nil }
        self.text = text
    }

    private init(checked text: String) { self.text = text }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let token = ReportToken(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a report token"))
        }
        self = token
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    /// Whether `presented` is this token; the time taken does not depend on where they differ.
    public func matches(_ presented: String?) -> Bool { SecretText.constantTimeEqual(text, presented) }

    /// Never the secret itself: a token must not end up in a log line.
    public var description: String { "ReportToken(…)" }
}

/// Comparing and writing secrets.
public enum SecretText {
    /// Equal texts, compared over every byte of the expected one whatever the input.
    public static func constantTimeEqual(_ expected: String, _ presented: String?) -> Bool {
        let a = Array(expected.utf8)
        let b = Array((presented ?? "").utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<a.count { difference |= a[i] ^ (i < b.count ? b[i] : ~a[i]) }
        return difference == 0
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func isLowercaseHex(_ text: String, length: Int) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// What a session's reports are about: each purpose has its own token, so a diagnostic
/// boot's token never proves an install's reports, nor the reverse.
public enum ReportPurpose: String, Sendable, Codable, CaseIterable {
    /// The Debian installer (preseed fetch, late_command's progress calls) and the
    /// installed system's first boot.
    case install
    /// The diagnostic and erase environment (`/report/inventory`, `/report/wipe`).
    case diagnostic
}

/// One PC's boot session for one purpose.
public struct ReportSession: Sendable, Equatable, Codable {
    public var mac: String
    public var purpose: ReportPurpose
    public var token: ReportToken
    /// The IPv4 address the PC's proven requests last came from: its installer's syslog
    /// lines are taken from this address only.
    public var address: String
    public var issuedMicroseconds: UInt64
    /// Until the PC reports its end (finished or failed with its token): syslog lines count.
    public var open: Bool
}

/// How a report's token was judged.
public enum ReportVerdict: Sendable, Equatable {
    case accepted
    /// No token in the request: a person reading a URL, or a forgery.
    case missing
    /// A token, but not this machine's current one.
    case wrong
}

public struct ReportSessionsError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

/// The sessions, in memory and (with a folder) in `report-tokens.json`; safe from any thread.
/// Every change is written before the call returns, so a token handed out is on disk before
/// the PC can present it, and a restart mid-install keeps it.
public final class ReportSessions: @unchecked Sendable {
    public static let fileName = "report-tokens.json"
    /// Past this many sessions the oldest are dropped (the file stays under ~1 MiB).
    public static let defaultCapacity = 4096

    /// nil: memory only (no state folder: `--events log`).
    public let path: String?
    public let capacity: Int
    private let now: @Sendable () -> Date
    private let lock = NSLock()
    // Guarded by `lock`; key "purpose mac".
    private var sessions: [String: ReportSession] = [:]
    private var lastSaveProblem: String?

    private struct File: Codable {
        var version = 1
        var sessions: [ReportSession]
    }

    public init(directory: String?, capacity: Int = ReportSessions.defaultCapacity, now: @escaping @Sendable () -> Date = Date.init) {
        self.path = directory.map { ($0 as NSString).appendingPathComponent(Self.fileName) }
        self.capacity = max(1, capacity)
        self.now = now
    }

    /// Reads the file (missing: nothing to read). A corrupt file is an error and the
    /// sessions start empty: PCs installing across that restart have their reports refused.
    @discardableResult
    public func load() throws(ReportSessionsError) -> Int {
        guard let path else { return 0 }
        var status = stat()
        if lstat(path, &status) != 0, errno == ENOENT { return 0 }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let file = try JSONDecoder().decode(File.self, from: data)
            guard file.version == 1 else { throw ReportSessionsError(description: "\(path): unknown version \(file.version)") }
            lock.withLock {
                sessions = [:]
                for session in file.sessions.suffix(capacity) { sessions[Self.key(session.mac, session.purpose)] = session }
            }
            return file.sessions.count
        } catch let error as ReportSessionsError {
            throw error
        } catch {
            throw ReportSessionsError(description: "cannot read \(path): \(error)")
        }
    }

    /// A new token for `mac`'s session of `purpose`, replacing any earlier one (a PC that
    /// boots the installer again gets a new token; the old one stops proving anything).
    public func issue(mac: String, purpose: ReportPurpose, address: String) -> ReportToken {
        let token = ReportToken.random()
        let microseconds = UInt64(max(0, now().timeIntervalSince1970) * 1e6)
        change { sessions in
            sessions[Self.key(mac, purpose)] = ReportSession(mac: mac, purpose: purpose, token: token, address: address,
                                                             issuedMicroseconds: microseconds, open: true)
            if sessions.count > capacity {
                let oldest = sessions.sorted { ($0.value.issuedMicroseconds, $0.key) < ($1.value.issuedMicroseconds, $1.key) }
                for (key, _) in oldest.prefix(sessions.count - capacity) { sessions[key] = nil }
            }
            return true
        }
        return token
    }

    /// Judges a report; an accepted one also moves the session's address to `address` (the
    /// installer may get another lease than iPXE had).
    public func verify(mac: String, purpose: ReportPurpose, presented: String?, from address: String) -> ReportVerdict {
        guard let presented, !presented.isEmpty else { return .missing }
        var verdict = ReportVerdict.wrong
        change { sessions in
            // Compared even when the machine has no session, against a fresh token: the
            // answer's timing says nothing about which MACs have one.
            let known = sessions[Self.key(mac, purpose)]
            guard (known?.token ?? ReportToken.random()).matches(presented), var session = known else { return false }
            verdict = .accepted
            guard session.address != address else { return false }
            session.address = address
            sessions[Self.key(mac, purpose)] = session
            return true
        }
        return verdict
    }

    /// The PC said its session ended (with its token): its syslog no longer counts. The
    /// token stays valid for the reports that come after (the installed system's first boot).
    public func close(mac: String, purpose: ReportPurpose) {
        change { sessions in
            guard var session = sessions[Self.key(mac, purpose)], session.open else { return false }
            session.open = false
            sessions[Self.key(mac, purpose)] = session
            return true
        }
    }

    /// The MAC of the newest open session whose PC is at `address`, if any.
    public func openSession(at address: String, purpose: ReportPurpose) -> String? {
        lock.withLock {
            sessions.values.filter { $0.open && $0.purpose == purpose && $0.address == address }
                .max { $0.issuedMicroseconds < $1.issuedMicroseconds }?.mac
        }
    }

    public func session(mac: String, purpose: ReportPurpose) -> ReportSession? {
        lock.withLock { sessions[Self.key(mac, purpose)] }
    }

    public var count: Int { lock.withLock { sessions.count } }

    /// The last failed write, if the newest one failed too (the daemon logs it).
    public var saveProblem: String? { lock.withLock { lastSaveProblem } }

    /// Applies `body` and, when it changed something, writes the file, all under the lock:
    /// writes happen once per install step, never per syslog line.
    private func change(_ body: (inout [String: ReportSession]) -> Bool) {
        lock.lock()
        defer { lock.unlock() }
        guard body(&sessions), let path else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let file = File(sessions: sessions.values.sorted { ($0.issuedMicroseconds, $0.mac) < ($1.issuedMicroseconds, $1.mac) })
        do throws(AtomicFileError) {
            guard let data = try? encoder.encode(file) else { throw AtomicFileError(reason: "cannot encode the sessions") }
            // 0600: the tokens are secrets.
            try AtomicFile.write(data, to: path, mode: 0o600)
            lastSaveProblem = nil
        } catch {
            lastSaveProblem = "cannot write \(path): \(error.reason)"
        }
    }

    private static func key(_ mac: String, _ purpose: ReportPurpose) -> String { "\(purpose.rawValue) \(mac)" }
}
