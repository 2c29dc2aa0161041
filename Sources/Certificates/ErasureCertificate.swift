// The erasure certificate a donor receives: the PC's identity and, per disk, how it was
// erased and whether the read-back verified it, signed by the site's Ed25519 key.
//
// Canonical bytes (what the signature covers), version 1:
//   the ASCII line "garage-pxe erasure certificate v1\n", then the certificate (every field
//   below except the signature) as JSON with keys sorted by their UTF-8 bytes, no
//   whitespace outside strings, "/" not escaped, non-ASCII characters as raw UTF-8, integers
//   in decimal, booleans as true/false (Foundation's JSONEncoder with .sortedKeys and
//   .withoutEscapingSlashes writes exactly this).
// The .json file is `{"certificate":…,"signature":"BASE64"}` in that same canonical form
// plus one "\n"; the .html file is rendered from it deterministically and embeds it. A
// verifier requires the file to be byte-for-byte what the signed content renders to, so
// no byte of either file can change unnoticed (see CertificateVerifier).

import Crypto
import Foundation
import Inventory
import MachineRecords

public struct ErasureCertificate: Sendable, Equatable, Codable {
    public static let format = "garage-pxe-erasure-certificate/1"
    /// Prefixed to the JSON before signing, so a signature over some other garage-pxe
    /// JSON (or a later format) can never pass for a certificate.
    public static let signingDomain = "garage-pxe erasure certificate v1\n"

    public var format: String
    public var site: String
    /// ISO 8601 UTC, when the certificate was made.
    public var issued: String
    public var machine: CertificateMachine
    /// When the server received the inventory the disk list comes from.
    public var inventoried: String?
    public var disks: [CertificateDisk]
    /// true when every disk is erased and verified.
    public var allErased: Bool
    /// The site's public key (raw 32 bytes, base64): which key to check it with.
    public var signingKey: String

    public var canonicalBytes: Data {
        Data(Self.signingDomain.utf8) + ((try? CanonicalJSON.encode(self)) ?? Data())
    }

    /// The certificate for a PC's record as it stands now.
    public static func make(record: MachineRecord, site: String, issued: Date, signingKey: String) -> ErasureCertificate {
        let disks = record.disks.map { d in
            CertificateDisk(
                serial: d.serial, model: d.disk?.model ?? d.wipe?.model ?? "", sizeBytes: d.disk?.sizeBytes ?? d.wipe?.sizeBytes ?? 0,
                transport: d.disk?.transport.rawValue ?? "", method: d.wipe?.method.rawValue ?? WipeMethod.none.rawValue,
                methodReason: d.wipe?.methodReason.flatMap { $0.isEmpty ? nil : $0 },
                passes: d.wipe?.passes ?? 0, started: d.wipe?.started ?? "", ended: d.wipe?.ended ?? "",
                verification: d.wipe?.verification.rawValue ?? WipeVerification.notRun.rawValue, erased: d.erased,
                reason: d.erased ? "" : (d.wipe.map { $0.reason.isEmpty ? "échec" : $0.reason } ?? "aucun effacement signalé pour ce disque"))
        }
        return ErasureCertificate(
            format: format, site: record.site ?? site, issued: isoTime(issued),
            machine: CertificateMachine(serial: record.serial ?? "", manufacturer: record.manufacturer ?? "", product: record.product ?? "",
                                        uuid: record.uuid ?? "", macs: record.macs),
            inventoried: record.inventoriedMicroseconds.map { isoTime(Date(timeIntervalSince1970: Double($0) / 1e6)) },
            disks: disks, allErased: !disks.isEmpty && disks.allSatisfy(\.erased), signingKey: signingKey)
    }

    static func isoTime(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

public struct CertificateMachine: Sendable, Equatable, Codable {
    public var serial: String
    public var manufacturer: String
    public var product: String
    public var uuid: String
    public var macs: [String]
}

public struct CertificateDisk: Sendable, Equatable, Codable {
    public var serial: String
    public var model: String
    public var sizeBytes: UInt64
    /// sata, nvme, usb, emmc, sd, other; empty when the disk was not in the inventory.
    public var transport: String
    /// A WipeMethod raw value ("none" when nothing was done).
    public var method: String
    /// Why that method (e.g. why an overwrite and not the drive's own erase), as the agent
    /// found it. Absent when there is nothing to say: certificates made before this field
    /// keep their canonical bytes, so their signatures still hold.
    public var methodReason: String?
    public var passes: Int
    public var started: String
    public var ended: String
    /// A WipeVerification raw value.
    public var verification: String
    public var erased: Bool
    /// Why the disk is NOT erased; empty when it is.
    public var reason: String
}

/// The certificate and the site's signature over its canonical bytes: the .json file.
public struct SignedCertificate: Sendable, Equatable, Codable {
    public var certificate: ErasureCertificate
    /// Ed25519 signature, base64.
    public var signature: String

    public static func sign(_ certificate: ErasureCertificate, with key: SiteSigningKey) throws -> SignedCertificate {
        var certificate = certificate
        certificate.signingKey = key.publicKeyBase64
        return SignedCertificate(certificate: certificate, signature: try key.signature(for: certificate.canonicalBytes).base64EncodedString())
    }

    /// The .json file's exact bytes.
    public var jsonFile: Data { ((try? CanonicalJSON.encode(self)) ?? Data()) + Data("\n".utf8) }
}
