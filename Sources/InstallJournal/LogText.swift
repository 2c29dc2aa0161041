// Text from the network (DHCP vendor and user classes, TFTP file names, HTTP query values,
// installer syslog lines, DMI strings) ends up in lines people and journald read. A newline
// in it would start a second line that journald parses afresh, `<0>` and all (an emergency
// message forged by a PC); an ESC would drive the admin's terminal. So every sink that
// writes a text line (the daemon's stderr log lines, the journal's MESSAGE, the journal
// writer's stderr fallback, `garage-pxe history` and `machines`) passes it through
// `LogText.escaped`. It lives here because InstallJournal is the lowest module that the
// journal writer, Daemon's log handler and the command line all already depend on.
//
// The form, reversible byte for byte: `\` becomes `\\`; each byte of a C0 control
// (U+0000–U+001F: \r, \n, \t, ESC…), of DEL (U+007F), of a C1 control (U+0080–U+009F, two
// bytes in UTF-8: NEL U+0085 is `\xc2\x85`) and each byte that is not part of valid UTF-8
// becomes `\xNN` (two lowercase hex digits). Everything else is kept, so ordinary text
// (accents, CJK) reads as it was. It works on UTF-8 bytes and scalars, never Characters:
// Swift's "\r\n" is one Character, unequal to "\n", and would slip through.

public enum LogText {
    /// `text` with controls and backslashes escaped: always one line.
    public static func escaped(_ text: String) -> String {
        // The daemon logs every DHCP reply: text with nothing to escape (nearly all of it)
        // is returned as is, without copying. In valid UTF-8 a C1 control starts with 0xC2.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x5C || $0 == 0xC2 }) else { return text }
        return escaped(utf8: Array(text.utf8))
    }

    /// Appends `text`, escaped as `escaped(_:)` does, to a line being built as bytes.
    public static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x5C || $0 == 0xC2 }) {
            out.append(contentsOf: escaped(utf8: Array(text.utf8)).utf8)
        } else {
            out.append(contentsOf: text.utf8)
        }
    }

    /// Bytes that should be UTF-8 (a datagram's text), escaped as above; bytes that are not
    /// valid UTF-8 are escaped one by one rather than replaced, so nothing is lost.
    public static func escaped(utf8 bytes: [UInt8]) -> String {
        transcribed(bytes, escapingControls: true)
    }

    /// Bytes that should be UTF-8, as text to store rather than show (journal fields): valid
    /// UTF-8 kept exactly, controls and backslashes included; only bytes that are not UTF-8,
    /// which a String cannot hold, are written `\xNN` rather than lost.
    public static func decoded(utf8 bytes: [UInt8]) -> String {
        transcribed(bytes, escapingControls: false)
    }

    private static func transcribed(_ bytes: [UInt8], escapingControls: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var index = 0
        while index < bytes.count {
            var iterator = bytes[index...].makeIterator()
            var parser = Unicode.UTF8.ForwardParser()
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                let scalar = Unicode.UTF8.decode(encoded).value
                if !escapingControls {
                    out += encoded
                } else if scalar == 0x5C {
                    out += [0x5C, 0x5C]
                } else if scalar < 0x20 || (0x7F...0x9F).contains(scalar) {
                    for byte in encoded { appendHex(byte, to: &out) }
                } else {
                    out += encoded
                }
                index += encoded.count
            case .error(let length):
                for byte in bytes[index..<(index + length)] { appendHex(byte, to: &out) }
                index += length
            case .emptyInput:
                index = bytes.count
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendHex(_ byte: UInt8, to out: inout [UInt8]) {
        out += [0x5C, 0x78, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
    }
}
