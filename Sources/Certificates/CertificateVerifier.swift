// `garage-pxe verify FILE`: a certificate (.json or .html) is accepted only if its
// signature holds under the site's public key AND the file is exactly what that signed
// content renders to. Checking the signature alone would let someone edit what a person
// reads (the HTML table, or JSON whitespace) while the signed part stays intact.

import Crypto
import Foundation
import Inventory

public struct CertificateRejection: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum CertificateVerifier {
    /// The certificate, if `file` is a genuine one signed by `trustedKey` (raw 32 bytes).
    public static func verify(_ file: Data, trustedKey: Data) throws(CertificateRejection) -> SignedCertificate {
        let text = String(decoding: file, as: UTF8.self)
        let isHTML = text.hasPrefix("<!DOCTYPE html>")
        let json: Data
        if isHTML {
            guard let embedded = CertificateHTML.embeddedJSON(text) else { throw CertificateRejection("HTML without an embedded certificate") }
            json = embedded
        } else {
            json = file
        }
        let signed: SignedCertificate
        do {
            signed = try JSONDecoder().decode(SignedCertificate.self, from: json)
        } catch {
            throw CertificateRejection("not a garage-pxe certificate (the JSON does not decode)")
        }
        guard signed.certificate.format == ErasureCertificate.format else {
            throw CertificateRejection("unknown certificate format \(signed.certificate.format)")
        }
        guard let signature = Data(base64Encoded: signed.signature), signature.count == 64 else {
            throw CertificateRejection("the signature is not 64 bytes of base64")
        }
        guard Data(base64Encoded: signed.certificate.signingKey) == trustedKey else {
            throw CertificateRejection("signed with key \(signed.certificate.signingKey), not with the trusted key \(trustedKey.base64EncodedString())")
        }
        let publicKey: Curve25519.Signing.PublicKey
        do {
            publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: trustedKey)
        } catch {
            throw CertificateRejection("the trusted key is not an Ed25519 public key")
        }
        guard publicKey.isValidSignature(signature, for: signed.certificate.canonicalBytes) else {
            throw CertificateRejection("BAD SIGNATURE: the certificate was changed after it was signed")
        }
        let expected = isHTML ? Data(CertificateHTML.render(signed).utf8) : signed.jsonFile
        guard expected == file else {
            throw CertificateRejection("the signature holds but the file differs from the signed content (edited by hand?)")
        }
        return signed
    }
}
