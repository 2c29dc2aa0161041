// The admin secret: what an admin action (re-arming a PC's auto-install today; wipe or
// group changes later) must present, as `Authorization: Bearer TOKEN`. The daemon creates
// it at its first start in `paths.state/admin-token` (64 hex digits, mode 0600, owned by
// the daemon's user, `garage-pxe` under systemd), keeps it in memory, and never serves it.
// Root reads it: `garage-pxe rearm` (run as root) sends it; an admin at the bench page
// pastes it once per browser tab. Deleting the file and restarting makes a new one.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct AdminTokenError: Error, Equatable, CustomStringConvertible {
    public var description: String
}

public struct AdminToken: Sendable {
    public static let fileName = "admin-token"
    public static let hexDigits = 64

    /// The secret, for the CLI to send; never logged.
    public let text: String

    init(text: String) { self.text = text }

    /// A token nobody knows: admin actions are refused (no state folder, or its file is bad).
    public static func unusable() -> AdminToken {
        var generator = SystemRandomNumberGenerator()
        return AdminToken(text: SecretText.hex((0..<hexDigits / 2).map { _ in UInt8.random(in: .min ... .max, using: &generator) }))
    }

    /// The value of an `Authorization` header, `Bearer TOKEN`; compared in constant time.
    public func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let prefix = "Bearer "
        guard authorization.hasPrefix(prefix) else { return false }
        return SecretText.constantTimeEqual(text, authorization.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces))
    }

    public static func path(in directory: String) -> String { (directory as NSString).appendingPathComponent(fileName) }

    /// The token in `directory`, made on the first start; `owner` (uid, gid): whom a new
    /// file is given to (the daemon's user, when started as root).
    public static func loadOrCreate(directory: String, owner: (uid_t, gid_t)? = nil) throws(AdminTokenError) -> (token: AdminToken, created: Bool) {
        let path = path(in: directory)
        var status = stat()
        if lstat(path, &status) == 0 { return (try read(directory: directory), false) }
        let token = unusable()
        do throws(AtomicFileError) {
            try AtomicFile.write(Data((token.text + "\n").utf8), to: path, mode: 0o600)
        } catch {
            throw AdminTokenError(description: "cannot create \(path): \(error.reason)")
        }
        if let (uid, gid) = owner, chown(path, uid, gid) != 0 {
            throw AdminTokenError(description: "cannot give \(path) to uid \(uid): \(String(cString: strerror(errno)))")
        }
        return (token, true)
    }

    /// Reads the file: a regular file, readable by its owner only, holding the token.
    public static func read(directory: String) throws(AdminTokenError) -> AdminToken {
        let path = path(in: directory)
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw AdminTokenError(description: "cannot read the admin token \(path): \(reason)\(errno == EACCES ? " (run as root)" : "")")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw AdminTokenError(description: "\(path) is not a regular file")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw AdminTokenError(description: "\(path) may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))): chmod 600 it, or delete it and restart the daemon for a new one")
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = Glibc.read(fd, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard SecretText.isLowercaseHex(text, length: hexDigits) else {
            throw AdminTokenError(description: "\(path) does not hold an admin token (\(hexDigits) hex digits); delete it and restart the daemon for a new one")
        }
        return AdminToken(text: text)
    }
}
