// The pieces of issue 16's "state changes need proof" that are pure logic or a file: the
// install token's sessions (issued, checked, kept across a restart, bounded), the admin
// token's file, the syslog receiver's per-sender rate limit, and the recorder's rule that a
// syslog failure does not end an install nor an unproven request change what is known.

import BootHTTP
import BootMenus
import Daemon
import Foundation
import InstallJournal
import NetworkAddresses
import Testing

@Suite struct ReportProofTests {
    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-proof-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("install tokens: issued per machine, checked (missing / wrong / accepted), kept in a 0600 file across a restart, bounded")
    func sessions() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sessions = ReportSessions(directory: dir, capacity: 3)
        let token = sessions.issue(mac: "52:54:00:00:00:01", purpose: .install, address: "10.0.0.1")
        #expect(token.text.count == 32 && ReportToken(token.text) == token)
        #expect(!"\(token)".contains(token.text), "a token never prints itself")
        #expect(sessions.verify(mac: "52:54:00:00:00:01", purpose: .install, presented: nil, from: "10.0.0.1") == .missing)
        #expect(sessions.verify(mac: "52:54:00:00:00:01", purpose: .install, presented: String(repeating: "0", count: 32), from: "10.0.0.1") == .wrong)
        #expect(sessions.verify(mac: "52:54:00:00:00:02", purpose: .install, presented: token.text, from: "10.0.0.1") == .wrong,
                "one machine's token proves nothing for another")
        #expect(sessions.openSession(at: "10.0.0.1", purpose: .install) == "52:54:00:00:00:01")
        // The installer's own lease: an accepted report moves the session's address.
        #expect(sessions.verify(mac: "52:54:00:00:00:01", purpose: .install, presented: token.text, from: "10.0.0.9") == .accepted)
        #expect(sessions.openSession(at: "10.0.0.1", purpose: .install) == nil)
        #expect(sessions.openSession(at: "10.0.0.9", purpose: .install) == "52:54:00:00:00:01")
        sessions.close(mac: "52:54:00:00:00:01", purpose: .install)
        #expect(sessions.openSession(at: "10.0.0.9", purpose: .install) == nil, "closed: its syslog no longer counts")

        // A restart: the same token still proves the machine's reports (its first boot).
        let reloaded = ReportSessions(directory: dir, capacity: 3)
        #expect(try reloaded.load() == 1)
        #expect(reloaded.verify(mac: "52:54:00:00:00:01", purpose: .install, presented: token.text, from: "10.0.0.9") == .accepted)
        var status = stat()
        #expect(stat(dir + "/" + ReportSessions.fileName, &status) == 0 && status.st_mode & 0o777 == 0o600)
        // A new install of the same machine: the old token stops proving anything.
        let second = reloaded.issue(mac: "52:54:00:00:00:01", purpose: .install, address: "10.0.0.9")
        #expect(reloaded.verify(mac: "52:54:00:00:00:01", purpose: .install, presented: token.text, from: "10.0.0.9") == .wrong)
        #expect(reloaded.verify(mac: "52:54:00:00:00:01", purpose: .install, presented: second.text, from: "10.0.0.9") == .accepted)
        // Bounded: past 3 machines the oldest session goes.
        for i in 2...4 { _ = reloaded.issue(mac: "52:54:00:00:00:0\(i)", purpose: .install, address: "10.0.0.\(i)") }
        #expect(reloaded.count == 3)
        #expect(reloaded.session(mac: "52:54:00:00:00:01", purpose: .install) == nil)
        // A corrupt file is an error, not a crash; the sessions start empty.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir + "/" + ReportSessions.fileName))
        #expect(throws: ReportSessionsError.self) { try ReportSessions(directory: dir).load() }
    }

    @Test("constant-time comparison: equal texts only, whatever their lengths")
    func comparison() {
        #expect(SecretText.constantTimeEqual("abc", "abc"))
        #expect(!SecretText.constantTimeEqual("abc", "abd"))
        #expect(!SecretText.constantTimeEqual("abc", "ab"))
        #expect(!SecretText.constantTimeEqual("abc", "abcd"))
        #expect(!SecretText.constantTimeEqual("abc", nil))
        #expect(!SecretText.constantTimeEqual("abc", ""))
        #expect(ReportToken("0123456789ABCDEF0123456789abcdef") == nil, "the exact form only")
    }

    @Test("the admin token: made once with mode 0600, read back, refused when others may read it or it is not a token")
    func adminToken() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (made, created) = try AdminToken.loadOrCreate(directory: dir)
        #expect(created && made.text.count == 64)
        let (again, createdAgain) = try AdminToken.loadOrCreate(directory: dir)
        #expect(!createdAgain && again.text == made.text)
        #expect(made.accepts(authorization: "Bearer \(made.text)"))
        #expect(!made.accepts(authorization: made.text), "the Bearer scheme only")
        let oneDigitOff = String(made.text.dropLast()) + (made.text.hasSuffix("0") ? "1" : "0")
        #expect(!made.accepts(authorization: "Bearer \(oneDigitOff)"))
        #expect(!made.accepts(authorization: nil))
        let path = AdminToken.path(in: dir)
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        chmod(path, 0o644)
        #expect(throws: AdminTokenError.self) { try AdminToken.read(directory: dir) }
        chmod(path, 0o600)
        try Data("short\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        #expect(throws: AdminTokenError.self) { try AdminToken.read(directory: dir) }
    }

    @Test("per-sender rate limit: a burst, then the rate; other senders untouched; the table bounded")
    func rateLimit() {
        var limiter = SourceRateLimiter(perSecond: 10, burst: 5, maxSources: 4)
        func admitted(_ count: Int, from source: UInt32, at now: Double) -> Int {
            (0..<count).filter { _ in limiter.admit(IPv4Address(hostOrder: source), now: now) }.count
        }
        #expect(admitted(8, from: 1, at: 100) == 5)
        #expect(admitted(1, from: 2, at: 100) == 1, "another sender has its own bucket")
        #expect(admitted(1, from: 1, at: 100.0625) == 0, "part of a token is not a datagram")
        #expect(admitted(1, from: 1, at: 100.125) == 1)
        #expect(admitted(20, from: 1, at: 200) == 5, "refilled to the burst, never past it")
        #expect(admitted(1, from: 1, at: 50) == 0, "a clock going back grants nothing")
        for source in 10..<20 { _ = admitted(1, from: UInt32(source), at: 300) }
        #expect(limiter.sourceCount <= 4)
    }

    final class Sink: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [[String]] = []
        func add(_ fields: [String]) { lock.lock(); events.append(fields); lock.unlock() }
        var all: [[String]] { lock.lock(); defer { lock.unlock() }; return events }
    }

    @Test("a file sent to an address no request has named yet (UEFI HTTP boot's shim) carries the MAC the neighbour table gives, and is not remembered")
    func fileSentNamedByNeighbourTable() throws {
        let sink = Sink()
        let writer = JournalWriter(send: { sink.add($0); return 0 })
        let recorder = InstallEventRecorder(writer: writer, site: "Atelier")
        let shim = BootHTTPEvent.fileSent(path: "/debian-installer/amd64/bootnetx64.efi", bytes: 5, range: nil, remote: "10.0.0.7")
        #expect(recorder.http(shim, neighbourMAC: { $0 == "10.0.0.7" ? "52:54:00:aa:bb:07" : nil }))
        // Later, the neighbour table no longer answers: nothing was remembered from it.
        #expect(recorder.http(shim))
        writer.flush()
        let sent = sink.all.filter { $0.contains("GARAGE_PXE_EVENT=image.sent") }
        #expect(sent.count == 2)
        #expect(sent.first?.contains("GARAGE_PXE_MAC=52:54:00:aa:bb:07") == true)
        #expect(sent.first?.contains("GARAGE_PXE_FILE=/debian-installer/amd64/bootnetx64.efi") == true)
        #expect(sent.last?.contains { $0.hasPrefix("GARAGE_PXE_MAC=") } == false)
    }

    @Test("a syslog failure marks the install failed but keeps its INSTALL_ID; an unproven menu request stores no DMI")
    func recorderTrustsOnlyProof() throws {
        let sink = Sink()
        let writer = JournalWriter(send: { sink.add($0); return 0 })
        let recorder = InstallEventRecorder(writer: writer, site: "Atelier")
        let mac = try #require(MACAddress("52:54:00:aa:bb:02"))
        let real = MachineIdentity(mac: mac, platform: .efi, serial: "REAL")
        #expect(recorder.http(.menuShown(machine: real, entry: nil, remote: "10.0.0.5", proven: true)))
        #expect(recorder.http(.entryChosen(machine: real, entry: "debian", remote: "10.0.0.5", proven: true, installs: true)))
        // Someone else's request for the same MAC, with another serial and a new entry choice.
        let forged = MachineIdentity(mac: mac, platform: .efi, serial: "FAKE")
        #expect(recorder.http(.menuShown(machine: forged, entry: nil, remote: "10.0.0.66", proven: false)))
        #expect(recorder.http(.entryChosen(machine: forged, entry: "debian", remote: "10.0.0.66", proven: false, installs: true)))
        let failure = try InstallerSyslog.parse(Array("<11>Nov 22 03:31:34 main-menu[9]: WARNING **: Configuring 'pkgsel' failed with error code 1".utf8)).get()
        recorder.installerSyslog(failure, from: "10.0.0.5") { _ in mac.description }
        #expect(recorder.http(.progress(mac: mac.description, stage: "finished", remote: "10.0.0.5")))
        writer.flush()
        let all = sink.all
        func ids(_ kind: String) -> [String] {
            all.filter { $0.contains("GARAGE_PXE_EVENT=\(kind)") }.compactMap { $0.first { $0.hasPrefix("GARAGE_PXE_INSTALL_ID=") } }
        }
        let opened = try #require(ids("menu.chosen").first)
        #expect(ids("menu.chosen") == [opened, opened], "the unproven choice opened no new install")
        #expect(ids("installer.failed") == [opened])
        #expect(ids("installer.finished") == [opened], "the syslog failure did not end the install")
        #expect(!all.contains { $0.contains("GARAGE_PXE_SERIAL=FAKE") }, "the forged serial is in no event")
        #expect(all.filter { $0.contains("GARAGE_PXE_EVENT=installer.finished") }.allSatisfy { $0.contains("GARAGE_PXE_SERIAL=REAL") })
    }
}
