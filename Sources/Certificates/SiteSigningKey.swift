// The site's Ed25519 key that signs erasure certificates. Made once, the first time the
// daemon (or `garage-pxe certificate`) needs it, in the state folder, readable by its
// owner only: whoever holds it can issue certificates in the workshop's name. The public
// key is what donors check certificates with (bench page, `certificate --public-key`).

import Crypto
import Foundation

public struct SiteKeyError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct SiteSigningKey: Sendable {
    public static let fileName = "certificate-signing-key.ed25519"
    /// The raw 32-byte private key (swift-crypto's key type is not Sendable; bytes are).
    let rawKey: Data
    var key: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: rawKey) }

    public init(key: Curve25519.Signing.PrivateKey) { rawKey = key.rawRepresentation }

    public var publicKeyBase64: String { key.publicKey.rawRepresentation.base64EncodedString() }

    /// "ab12 cd34 …": the first 16 bytes of SHA-256 over the public key, to read aloud or
    /// compare on paper.
    public var fingerprint: String { Self.fingerprint(publicKey: key.publicKey.rawRepresentation) }

    public static func fingerprint(publicKey: Data) -> String {
        let hex = SHA256.hash(data: publicKey).prefix(16).map { String(format: "%02x", $0) }.joined()
        return stride(from: 0, to: hex.count, by: 4).map { i in
            String(hex[hex.index(hex.startIndex, offsetBy: i)..<hex.index(hex.startIndex, offsetBy: i + 4)])
        }.joined(separator: " ")
    }

    func signature(for data: Data) throws -> Data { try key.signature(for: data) }

    /// Reads the key under `stateDirectory`, or makes it (0600, never over an existing file).
    public static func loadOrCreate(stateDirectory: String) throws(SiteKeyError) -> SiteSigningKey {
        let path = stateDirectory + "/" + fileName
        if let existing = try load(path: path) { return existing }
        let key = Curve25519.Signing.PrivateKey()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 {
            // Another process made it between our read and our create: use theirs.
            if errno == EEXIST, let existing = try load(path: path) { return existing }
            throw SiteKeyError("cannot create the certificate signing key \(path): \(String(cString: strerror(errno)))")
        }
        let bytes = [UInt8](key.rawRepresentation)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(path)
            throw SiteKeyError("cannot write the certificate signing key \(path)")
        }
        return SiteSigningKey(key: key)
    }

    /// nil when there is no key file yet.
    public static func load(path: String) throws(SiteKeyError) -> SiteSigningKey? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw SiteKeyError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SiteKeyError("\(path) is not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw SiteKeyError("\(path) is readable by others than its owner (mode \(String(info.st_mode & 0o777, radix: 8))): run chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw SiteKeyError("cannot read \(path)") }
        do {
            return SiteSigningKey(key: try Curve25519.Signing.PrivateKey(rawRepresentation: data))
        } catch {
            throw SiteKeyError("\(path) is not an Ed25519 private key (\(data.count) bytes, 32 expected)")
        }
    }
}
