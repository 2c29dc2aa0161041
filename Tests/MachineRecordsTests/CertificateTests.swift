import Certificates
import Crypto
import Foundation
import InstallJournal
import Inventory
import MachineRecords
import Testing

@Suite("erasure certificates: signed, and refused after any one-byte change")
struct CertificateTests {
    static func signed() throws -> (SignedCertificate, SiteSigningKey) {
        let key = SiteSigningKey(key: Curve25519.Signing.PrivateKey())
        let record = try #require(MachineRecords.fold(Samples.journey()).first)
        let certificate = ErasureCertificate.make(record: record, site: "Atelier Test", issued: Date(timeIntervalSince1970: 1_780_001_000),
                                                  signingKey: key.publicKeyBase64)
        return (try SignedCertificate.sign(certificate, with: key), key)
    }

    static func publicKey(_ key: SiteSigningKey) -> Data { Data(base64Encoded: key.publicKeyBase64)! }

    @Test("the certificate lists every disk; the failed one is NOT erased with its reason")
    func content() throws {
        let (signed, _) = try Self.signed()
        let c = signed.certificate
        #expect(c.site == "Atelier Test" && c.machine.serial == "PF0ERASE1" && c.issued == "2026-05-28T20:43:20Z")
        #expect(c.disks.map(\.serial) == ["S3Z9NB0K123456", "19285D801234", "USB-RO-0003"])
        #expect(c.disks.map(\.erased) == [true, true, false] && !c.allErased)
        #expect(c.disks[1].method == "nvme-format" && c.disks[1].verification == "verified")
        #expect(c.disks[2].reason == "write refused: read-only device")
        let html = CertificateHTML.render(signed)
        #expect(html.contains("<html lang=\"fr\">") && html.contains("@media print"))
        #expect(html.contains("NON effacé — write refused: read-only device"))
        #expect(html.contains("ATTENTION : au moins un disque de ce poste n'est PAS effacé."))
    }

    @Test("canonical bytes: the domain line, then sorted compact JSON")
    func canonical() throws {
        let (signed, key) = try Self.signed()
        let bytes = signed.certificate.canonicalBytes
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("garage-pxe erasure certificate v1\n{\"allErased\":false,\"disks\":[{"))
        #expect(!text.dropFirst(34).contains("\n") && !text.contains("\": ") && !text.contains("\", \""))
        let pub = try Curve25519.Signing.PublicKey(rawRepresentation: Self.publicKey(key))
        #expect(pub.isValidSignature(Data(base64Encoded: signed.signature)!, for: bytes))
    }

    @Test("the .json and the .html verify; every single-byte change of either is rejected")
    func everyByte() throws {
        let (signed, key) = try Self.signed()
        let trusted = Self.publicKey(key)
        for file in [signed.jsonFile, Data(CertificateHTML.render(signed).utf8)] {
            #expect(try CertificateVerifier.verify(file, trustedKey: trusted) == signed)
            var accepted: [Int] = []
            for index in file.indices {
                var copy = file
                copy[index] ^= 0x01
                if (try? CertificateVerifier.verify(copy, trustedKey: trusted)) != nil { accepted.append(index) }
            }
            #expect(accepted.count == 0, "one-byte changes accepted at \(accepted.prefix(10)) of \(file.count)")
        }
    }

    @Test("refusals say why: another key, a changed field re-encoded canonically, a hand-edited HTML")
    func refusals() throws {
        let (signed, key) = try Self.signed()
        let other = SiteSigningKey(key: Curve25519.Signing.PrivateKey())
        #expect(throws: CertificateRejection.self) { try CertificateVerifier.verify(signed.jsonFile, trustedKey: Self.publicKey(other)) }
        var forged = signed
        forged.certificate.disks[2].erased = true
        do {
            _ = try CertificateVerifier.verify(forged.jsonFile, trustedKey: Self.publicKey(key))
            Issue.record("a forged disk result was accepted")
        } catch {
            #expect(error.description.hasPrefix("BAD SIGNATURE"))
        }
        let html = CertificateHTML.render(signed).replacingOccurrences(of: "NON effacé — write", with: "Effacé — write")
        do {
            _ = try CertificateVerifier.verify(Data(html.utf8), trustedKey: Self.publicKey(key))
            Issue.record("a hand-edited HTML was accepted")
        } catch {
            #expect(error.description.contains("differs from the signed content"))
        }
        // Re-signed with another key: genuine for that key only.
        let resigned = try SignedCertificate.sign(signed.certificate, with: other)
        #expect(throws: CertificateRejection.self) { try CertificateVerifier.verify(resigned.jsonFile, trustedKey: Self.publicKey(key)) }
        #expect(try CertificateVerifier.verify(resigned.jsonFile, trustedKey: Self.publicKey(other)).certificate.signingKey == other.publicKeyBase64)
    }

    @Test("why an overwrite: in the signed JSON and under the method in the HTML; a certificate without it has no such key")
    func methodReason() throws {
        let (plain, _) = try Self.signed()
        #expect(!String(decoding: plain.certificate.canonicalBytes, as: UTF8.self).contains("methodReason"))
        #expect(!CertificateHTML.render(plain).contains("Motif"))
        var wipe = Samples.wipe("19285D801234", ok: true)
        wipe.methodReason = "no sanitize block erase (SANICAP 0x0); format <refused>"
        let (kind, fields) = ReportEvents.wipeEvent(wipe)
        var events = Samples.journey()
        events.append(Samples.record(kind, fields.merging([.mac: Samples.mac]) { a, _ in a }, at: 1_780_005_000))
        let key = SiteSigningKey(key: Curve25519.Signing.PrivateKey())
        let record = try #require(MachineRecords.fold(events).first)
        let signed = try SignedCertificate.sign(
            ErasureCertificate.make(record: record, site: "S", issued: Date(timeIntervalSince1970: 0), signingKey: ""), with: key)
        let disk = try #require(signed.certificate.disks.first { $0.serial == "19285D801234" })
        #expect(disk.method == "overwrite" && disk.methodReason == wipe.methodReason)
        let html = CertificateHTML.render(signed)
        #expect(html.contains("<br><small>Motif : no sanitize block erase (SANICAP 0x0); format &lt;refused&gt;</small></td>"))
        #expect(try CertificateVerifier.verify(Data(html.utf8), trustedKey: Self.publicKey(key)) == signed)
        var forged = signed
        forged.certificate.disks[1].methodReason = nil
        #expect(throws: CertificateRejection.self) { try CertificateVerifier.verify(forged.jsonFile, trustedKey: Self.publicKey(key)) }
    }

    @Test("DMI text cannot close the embedded script nor inject markup")
    func hostileText() throws {
        var events = Samples.journey()
        events.append(Samples.record(.menuShown, [.mac: Samples.mac, .product: "</script><img src=x onerror=alert(1)>"], at: 1_780_005_000))
        let key = SiteSigningKey(key: Curve25519.Signing.PrivateKey())
        let record = try #require(MachineRecords.fold(events).first)
        let signed = try SignedCertificate.sign(
            ErasureCertificate.make(record: record, site: "S", issued: Date(timeIntervalSince1970: 0), signingKey: ""), with: key)
        let html = CertificateHTML.render(signed)
        #expect(!html.contains("<img") && html.components(separatedBy: "</script>").count == 2)
        #expect(try CertificateVerifier.verify(Data(html.utf8), trustedKey: Self.publicKey(key)).certificate.machine.product.hasPrefix("</script>"))
    }

    @Test("the site key: made once with mode 0600, read back the same, refused when others can read it")
    func keyFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-key-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try SiteSigningKey.loadOrCreate(stateDirectory: dir)
        let path = dir + "/" + SiteSigningKey.fileName
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try SiteSigningKey.loadOrCreate(stateDirectory: dir).publicKeyBase64 == first.publicKeyBase64)
        #expect(first.fingerprint.split(separator: " ").count == 8)
        chmod(path, 0o644)
        #expect(throws: SiteKeyError.self) { try SiteSigningKey.loadOrCreate(stateDirectory: dir) }
    }
}
