import Foundation

/// The installer syslog captured from a real Debian installer (Tests/Fixtures/installer-syslog/,
/// scripts/e2e/capture-installer-syslog.sh): one datagram per line, bytes outside
/// printable ASCII and the backslash written \xNN.
public enum InstallerSyslogCapture {
    public static func datagrams(_ name: String) throws -> [[UInt8]] {
        let text = try String(contentsOfFile: Repo.path("Tests/Fixtures/installer-syslog/\(name)"), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            var bytes: [UInt8] = []
            var rest = Substring(line)
            while let first = rest.first {
                if rest.hasPrefix("\\x"), let byte = UInt8(rest.dropFirst(2).prefix(2), radix: 16) {
                    bytes.append(byte)
                    rest = rest.dropFirst(4)
                } else {
                    bytes.append(contentsOf: first.utf8)
                    rest = rest.dropFirst()
                }
            }
            return bytes
        }
    }
}
