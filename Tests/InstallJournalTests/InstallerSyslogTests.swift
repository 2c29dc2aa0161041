import Foundation
import InstallJournal
import Testing
import TestSupport

/// The captured datagrams (TestSupport's InstallerSyslogCapture), parsed.
enum InstallerSyslogFixture {
    static func datagrams(_ name: String) throws -> [[UInt8]] { try InstallerSyslogCapture.datagrams(name) }

    static func lines(_ name: String) throws -> [InstallerSyslogLine] {
        try datagrams(name).map { try InstallerSyslog.parse($0).get() }
    }
}

@Suite("installer syslog")
struct InstallerSyslogTests {
    @Test("busybox syslogd's forwarded line: PRI, time, tag[pid], message; no hostname")
    func busyboxLine() throws {
        let line = try InstallerSyslog.parse(Array("<14>Nov 22 03:31:32 main-menu[258]: INFO: Menu item 'network-preseed' selected\n".utf8)).get()
        #expect(line == InstallerSyslogLine(facility: 1, severity: 6, timestamp: "Nov 22 03:31:32", hostname: nil,
                                            appName: "main-menu", processID: "258",
                                            message: "INFO: Menu item 'network-preseed' selected"))
        #expect(line.text == "main-menu[258]: INFO: Menu item 'network-preseed' selected")
        #expect(InstallerSyslog.milestone(line) == .step(step: "network-preseed", component: "network-preseed"))
    }

    @Test("RFC 3164 with a hostname, a space-padded day, and a tag without pid")
    func rfc3164WithHostname() throws {
        let line = try InstallerSyslog.parse(Array("<13>Nov  2 03:41:07 pc-atelier-12 anna: INFO: retrieving udeb".utf8)).get()
        #expect(line.timestamp == "Nov  2 03:41:07")
        #expect(line.hostname == "pc-atelier-12")
        #expect(line.appName == "anna")
        #expect(line.processID == nil)
        #expect(line.message == "INFO: retrieving udeb")
        #expect(line.severity == 5 && line.facility == 1)
    }

    @Test("RFC 5424: nil values, structured data with an escaped bracket, BOM before the message")
    func rfc5424() throws {
        let text = "<12>1 2026-11-22T03:41:07.123Z pc12 main-menu 258 - [meta x=\"a\\]b\"][origin ip=\"10.0.0.2\"] \u{FEFF}WARNING **: Configuring 'bootstrap-base' failed with error code 1"
        let line = try InstallerSyslog.parse(Array(text.utf8)).get()
        #expect(line.timestamp == "2026-11-22T03:41:07.123Z")
        #expect(line.hostname == "pc12")
        #expect(line.appName == "main-menu")
        #expect(line.processID == "258")
        #expect(line.message == "WARNING **: Configuring 'bootstrap-base' failed with error code 1")
        #expect(InstallerSyslog.milestone(line) == .failed(step: "base-system", component: "bootstrap-base",
                                                           reason: "Configuring 'bootstrap-base' failed with error code 1"))
        let bare = try InstallerSyslog.parse(Array("<165>1 - - - - - -".utf8)).get()
        #expect(bare.facility == 20 && bare.severity == 5 && bare.appName == nil && bare.message == "")
    }

    @Test("no timestamp, no tag: the text is the message")
    func minimalLines() throws {
        #expect(try InstallerSyslog.parse(Array("<13>hello world".utf8)).get().message == "hello world")
        let tagged = try InstallerSyslog.parse(Array("<13>logger: hi".utf8)).get()
        #expect(tagged.appName == "logger" && tagged.message == "hi")
        // A timestamp followed by plain words: no hostname or tag is invented.
        let plain = try InstallerSyslog.parse(Array("<13>Nov 22 03:31:32 just some words".utf8)).get()
        #expect(plain.hostname == nil && plain.appName == nil && plain.message == "just some words")
    }

    @Test("garbage is refused with a reason: empty, no PRI, PRI out of range, oversize")
    func refusals() throws {
        #expect(InstallerSyslog.parse([UInt8]()) == .failure(.empty))
        #expect(InstallerSyslog.parse(Array(" \r\n".utf8)) == .failure(.empty))
        #expect(InstallerSyslog.parse(Array("hello".utf8)) == .failure(.noPriority))
        #expect(InstallerSyslog.parse(Array("<192>x".utf8)) == .failure(.noPriority))
        #expect(InstallerSyslog.parse(Array("<1a>x".utf8)) == .failure(.noPriority))
        #expect(InstallerSyslog.parse(Array("<>x".utf8)) == .failure(.noPriority))
        #expect(InstallerSyslog.parse(Array("<0013>x".utf8)) == .failure(.noPriority))
        // A sign is not a digit (fuzz-syslog finding, Tests/Fixtures/fuzz/syslog-negative-pri.txt).
        #expect(InstallerSyslog.parse(Array("<-5>x".utf8)) == .failure(.noPriority))
        #expect(InstallerSyslog.parse(Array("<+5>x".utf8)) == .failure(.noPriority))
        let finding = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/syslog-negative-pri.txt"))
        #expect(InstallerSyslog.parse(Array(finding)) == .failure(.noPriority))
        #expect(InstallerSyslog.parse([UInt8](repeating: 0x41, count: 8193)) == .failure(.oversize(bytes: 8193)))
        #expect((try? InstallerSyslog.parse(Array("<13>".utf8) + [UInt8](repeating: 0x41, count: 8188)).get()) != nil)
    }

    @Test("valid UTF-8 is kept exactly, controls included (the sinks escape them); invalid bytes are shown as \\xNN")
    func textAsSent() throws {
        let bytes = Array("<13>tag: a\u{1b}[1mb é ".utf8) + [0xff, 0x00, 0x41]
        let line = try InstallerSyslog.parse(bytes).get()
        #expect(line.message == "a\u{1b}[1mb é \\xff\u{0}A")
        // The journal's MESSAGE escapes once: the ESC, the NUL and the backslash of \xff.
        let event = InstallEvent(.installerLog, message: line.text)
        #expect(event.journalFields.first { $0.key == "MESSAGE" }?.value == #"tag: a\x1b[1mb é \\xff\x00A"#)
    }

    @Test("menu items map to the workshop's steps; others keep their udeb name")
    func stepNames() {
        let expected = [
            "netcfg": "network", "ethdetect": "network", "partman-base": "partitioning", "partman-auto": "partitioning",
            "bootstrap-base": "base-system", "pkgsel": "software", "tasksel": "software", "grub-installer": "bootloader",
            "nobootloader": "bootloader", "finish-install": "finish", "choose-mirror": "mirror", "clock-setup": "clock-setup",
            "user-setup-udeb": "user-setup-udeb",
        ]
        for (component, step) in expected { #expect(InstallerSyslog.step(forComponent: component) == step, "\(component)") }
        // Only main-menu announces steps; another program quoting the sentence does not.
        let quoted = InstallerSyslogLine(facility: 1, severity: 6, appName: "logger", message: "INFO: Menu item 'pkgsel' selected")
        #expect(InstallerSyslog.milestone(quoted) == nil)
    }

    @Test("a real installer run: every datagram parses as busybox's RFC 3164, main-menu's items are the steps")
    func offlineMirrorFixture() throws {
        let lines = try InstallerSyslogFixture.lines("bookworm-bios-offline-mirror.txt")
        #expect(lines.count == 81)
        #expect(lines.allSatisfy { $0.timestamp != nil && $0.hostname == nil && $0.appName != nil }, "\(lines.filter { $0.appName == nil })")
        #expect(Set(lines.compactMap(\.appName)) == ["anna-install", "choose-mirror", "debconf", "localechooser", "main-menu", "netcfg", "preseed", "udhcpc"])
        let milestones = lines.compactMap(InstallerSyslog.milestone)
        #expect(milestones == [
            .step(step: "network-preseed", component: "network-preseed"),
            .step(step: "localechooser", component: "localechooser"),
            .step(step: "console-setup-udeb", component: "console-setup-udeb"),
            .step(step: "mirror", component: "choose-mirror"),
        ])
        // The offline mirror is a warning, not a failed step.
        #expect(lines.last?.message == "WARNING **: mirror does not support the specified release (bookworm)")
        #expect(lines.last?.severity == 4)
    }

    @Test("a real failed step: main-menu's \"Configuring 'choose-mirror' failed with error code 3\" is installer.failed")
    func failedStepFixture() throws {
        let lines = try InstallerSyslogFixture.lines("bookworm-bios-failed-step.txt")
        let milestones = lines.compactMap(InstallerSyslog.milestone)
        #expect(milestones.last == .failed(step: "mirror", component: "choose-mirror",
                                           reason: "Configuring 'choose-mirror' failed with error code 3"))
        #expect(milestones.dropLast().allSatisfy { if case .step = $0 { true } else { false } })
        #expect(milestones.count == 5)
        // The backslashes of the early_command survive the capture's \x5c escape.
        #expect(lines.contains { $0.appName == "preseed" && $0.message.contains(##"printf "#!/bin/sh\nexit 3\n""##) })
    }
}
