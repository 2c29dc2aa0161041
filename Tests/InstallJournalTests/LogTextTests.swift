import Foundation
import InstallJournal
import Testing
import TestSupport

/// LogText.escaped, the one escaping every human-readable line goes through (issue 16).
@Suite("log text escaping")
struct LogTextTests {
    /// The inverse of the documented form (`\\` → `\`, `\xNN` → byte NN), here only to prove
    /// that nothing is lost.
    static func unescaped(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x5C, i + 1 < bytes.count, bytes[i + 1] == 0x5C {
                out.append(0x5C)
                i += 2
            } else if bytes[i] == 0x5C, i + 3 < bytes.count, bytes[i + 1] == 0x78,
                      let byte = UInt8(String(decoding: bytes[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                out.append(byte)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// No byte that could end a line or drive a terminal: C0, DEL, and no C1 scalar.
    static func isOneSafeLine(_ text: String) -> Bool {
        !text.utf8.contains { $0 < 0x20 || $0 == 0x7F } && !text.unicodeScalars.contains { (0x80...0x9F).contains($0.value) }
    }

    @Test("CR LF (one Swift Character), lone CR and LF are escaped byte by byte")
    func lineBreaks() {
        let crlf = "a\r\nb"
        #expect(crlf.count == 3, "Swift sees \\r\\n as one Character")
        #expect(LogText.escaped(crlf) == #"a\x0d\x0ab"#)
        #expect(LogText.escaped("a\rb") == #"a\x0db"#)
        #expect(LogText.escaped("PXEClient\n<0>FORGED") == #"PXEClient\x0a<0>FORGED"#)
        #expect(LogText.escaped("\t") == #"\x09"#)
    }

    @Test("ESC, DEL and the C1 controls (NEL U+0085, CSI U+009B) are escaped; U+00A0 and other text are kept")
    func controls() {
        #expect(LogText.escaped("\u{1b}[31mred") == #"\x1b[31mred"#)
        #expect(LogText.escaped("a\u{7f}b") == #"a\x7fb"#)
        #expect(LogText.escaped("one\u{85}two") == #"one\xc2\x85two"#)
        #expect(LogText.escaped("\u{9b}2J") == #"\xc2\x9b2J"#)
        #expect(LogText.escaped("\u{80}") == #"\xc2\x80"#)
        for kept in ["installation réseau", "\u{a0}", "Größe", "東京", "🖥️ ThinkCentre M720q", "PXEClient:Arch:00007:UNDI:003000", ""] {
            #expect(LogText.escaped(kept) == kept)
        }
    }

    @Test("bytes that are not UTF-8 are escaped one by one, never replaced")
    func invalidUTF8() {
        #expect(LogText.escaped(utf8: [0x66, 0xFF, 0x6F]) == #"f\xffo"#)
        #expect(LogText.escaped(utf8: [0xC3, 0x28]) == #"\xc3("#, "a lead byte without its continuation")
        #expect(LogText.escaped(utf8: [0x41, 0xE2, 0x82]) == #"A\xe2\x82"#, "cut short at the end")
        #expect(LogText.escaped(utf8: [0xC0, 0x8A]) == #"\xc0\x8a"#, "an overlong newline")
        #expect(LogText.escaped(utf8: [0xED, 0xA0, 0x80]) == #"\xed\xa0\x80"#, "a UTF-16 surrogate")
        #expect(LogText.escaped(utf8: Array("é".utf8)) == "é")
    }

    @Test("a backslash is doubled, so text that looks escaped comes back as it was")
    func backslashRoundTrip() {
        #expect(LogText.escaped(#"C:\x0a"#) == #"C:\\x0a"#)
        #expect(LogText.escaped("\\") == #"\\"#)
        for text in [#"C:\x0a"#, "\\\n\\", #"\\x1b"#, "end\\"] {
            #expect(Self.unescaped(LogText.escaped(text)) == Array(text.utf8))
        }
    }

    @Test("random bytes: always one safe line, and decoded back to the same bytes")
    func randomBytes() {
        var random = SplitMix64(seed: 0x10_6f0e)
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in
                // Half from the interesting ranges (controls, backslash, lead bytes), half anything.
                Bool.random(using: &random) ? [0x00, 0x0A, 0x0D, 0x1B, 0x5C, 0x7F, 0xC2, 0x85, 0x9B, 0xE2, 0x80].randomElement(using: &random)!
                    : UInt8.random(in: 0...255, using: &random)
            }
            let escaped = LogText.escaped(utf8: bytes)
            #expect(Self.isOneSafeLine(escaped), "\(bytes)")
            #expect(Self.unescaped(escaped) == bytes, "\(bytes)")
            if let text = String(validating: bytes, as: UTF8.self) { #expect(LogText.escaped(text) == escaped) }
        }
    }

    @Test("MESSAGE is escaped for journalctl; the other journal fields keep their exact bytes")
    func journalFields() {
        let reason = "Configuring 'x' failed\r\n<0>boom\u{1b}[2J"
        let event = InstallEvent(.installerFailed, fields: [.mac: "52:54:00:12:34:56", .reason: reason])
        let fields = Dictionary(uniqueKeysWithValues: event.journalFields.map { ($0.key, $0.value) })
        #expect(fields["GARAGE_PXE_REASON"] == reason)
        let message = fields["MESSAGE"] ?? ""
        #expect(message == #"installer.failed 52:54:00:12:34:56 Configuring 'x' failed\x0d\x0a<0>boom\x1b[2J"#)
        #expect(Self.isOneSafeLine(message))
    }

    @Test("the stderr fallback is one line whatever the fields hold, CR LF included")
    func fallbackLine() {
        let event = InstallEvent(.tftpFailed, fields: [.file: "pxelinux.0\r\n<0>x", .reason: "a\\b \"c\""],
                                 message: "tftp.failed\u{85}\n<1>forged")
        let line = JournalWriter.fallbackLine(event.journalFields.map { "\($0.key)=\($0.value)" }, error: "bad\r\nerror")
        let bytes = Array(line.utf8)
        #expect(bytes.last == 0x0A && bytes.filter { $0 == 0x0A }.count == 1, "\(line)")
        #expect(Self.isOneSafeLine(String(line.dropLast())), "\(line)")
        #expect(line.contains(#"JOURNAL_ERROR="bad\x0d\x0aerror""#), "\(line)")
        #expect(line.contains(#" GARAGE_PXE_FILE="pxelinux.0\x0d\x0a<0>x""#), "\(line)")
        #expect(line.contains(#" GARAGE_PXE_REASON="a\\b \"c\"""#), "\(line)")
        // MESSAGE is the journal's escaped MESSAGE, escaped once more like every value.
        #expect(line.contains(#" MESSAGE="tftp.failed\\xc2\\x85\\x0a<1>forged""#), "\(line)")
    }
}
