// The printable French certificate. Rendered only from the signed content (no clock, no
// locale), so the same certificate always gives the same bytes: that is what lets
// `garage-pxe verify` check an HTML file byte for byte. The signed JSON rides inside it.

import Foundation
import Inventory

public enum CertificateHTML {
    static let jsonOpen = "<script type=\"application/json\" id=\"garage-pxe-certificate\">"
    static let jsonClose = "</script>"

    public static func render(_ signed: SignedCertificate) -> String {
        let c = signed.certificate
        let m = c.machine
        let rows = c.disks.map { d in
            let method = WipeMethod(rawValue: d.method)?.label ?? d.method
            let verification = switch WipeVerification(rawValue: d.verification) {
            case .verified?: "relu en entier, conforme"
            case .mismatch?: "relecture NON conforme"
            default: "non effectuée"
            }
            let result = d.erased ? "<td class=\"ok\">Effacé</td>" : "<td class=\"ko\">NON effacé — \(escape(d.reason))</td>"
            return """
                <tr><td>\(escape(d.serial))</td><td>\(escape(d.model))</td><td>\(escape(sizeText(d.sizeBytes)))</td><td>\(escape(d.transport.uppercased()))</td>\
                <td>\(escape(method))\(d.passes > 0 ? " (\(d.passes) passe\(d.passes > 1 ? "s" : ""))" : "")\
                \(d.methodReason.map { "<br><small>Motif : \(escape($0))</small>" } ?? "")</td>\
                <td>\(escape(d.started))<br>\(escape(d.ended))</td><td>\(escape(verification))</td>\(result)</tr>
            """
        }.joined(separator: "\n")
        let verdict = c.allErased
            ? "<p class=\"verdict ok\">Tous les disques de ce poste ont été effacés et relus.</p>"
            : "<p class=\"verdict ko\">ATTENTION : au moins un disque de ce poste n'est PAS effacé.</p>"
        // "<" inside the embedded JSON would let a DMI string close the script element.
        let json = String(decoding: signed.jsonFile, as: UTF8.self).replacingOccurrences(of: "<", with: "\\u003c")
        return """
        <!DOCTYPE html>
        <html lang="fr">
        <head>
        <meta charset="utf-8">
        <title>Certificat d'effacement — \(escape(m.serial.isEmpty ? m.macs.first ?? "" : m.serial))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #111; }
        h1 { font-size: 1.5em; margin-bottom: 0.2em; }
        table { border-collapse: collapse; width: 100%; margin: 1em 0; }
        th, td { border: 1px solid #888; padding: 0.3em 0.5em; text-align: left; vertical-align: top; font-size: 0.9em; }
        th { background: #eee; }
        .ok { color: #0a5a0a; font-weight: bold; }
        .ko { color: #a00; font-weight: bold; }
        .verdict { font-size: 1.1em; }
        .signature { font-family: monospace; font-size: 0.75em; word-break: break-all; }
        @media print {
          body { margin: 1cm; }
          th { background: none; }
          .noprint { display: none; }
          table, tr { page-break-inside: avoid; }
          .ok, .ko { color: #000; }
        }
        @page { size: A4; margin: 1.5cm; }
        </style>
        </head>
        <body>
        <h1>Certificat d'effacement des données</h1>
        <p>Établi par <strong>\(escape(c.site))</strong> le \(escape(c.issued)).</p>
        <h2>Poste</h2>
        <table>
        <tr><th>Fabricant</th><td>\(escape(m.manufacturer))</td></tr>
        <tr><th>Modèle</th><td>\(escape(m.product))</td></tr>
        <tr><th>Numéro de série</th><td>\(escape(m.serial))</td></tr>
        <tr><th>UUID</th><td>\(escape(m.uuid))</td></tr>
        <tr><th>Adresses MAC</th><td>\(escape(m.macs.joined(separator: ", ")))</td></tr>
        <tr><th>Inventaire reçu le</th><td>\(escape(c.inventoried ?? "—"))</td></tr>
        </table>
        <h2>Disques</h2>
        <table>
        <tr><th>N° de série</th><th>Modèle</th><th>Taille</th><th>Type</th><th>Méthode</th><th>Début / fin</th><th>Vérification</th><th>Résultat</th></tr>
        \(rows)
        </table>
        \(verdict)
        <h2>Signature</h2>
        <p>Ce document est signé (Ed25519) par la clé du site \(escape(c.site)), empreinte <strong>\(escape(SiteSigningKey.fingerprint(publicKey: Data(base64Encoded: c.signingKey) ?? Data())))</strong>.
        Vérification : <code>garage-pxe verify</code> sur ce fichier ou sur sa version JSON.</p>
        <p class="signature">Clé publique : \(escape(c.signingKey))<br>Signature : \(escape(signed.signature))</p>
        \(jsonOpen)\(json)\(jsonClose)
        </body>
        </html>

        """
    }

    /// "500,1 Go" (decimal units, as disk makers label them).
    static func sizeText(_ bytes: UInt64) -> String {
        guard bytes > 0 else { return "" }
        let units = ["o", "ko", "Mo", "Go", "To"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        let text = unit == 0 ? String(bytes) : String(format: "%.1f", value).replacingOccurrences(of: ".", with: ",")
        return "\(text) \(units[unit])"
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The signed JSON embedded in an HTML certificate, as it was before embedding.
    static func embeddedJSON(_ html: String) -> Data? {
        guard let start = html.range(of: jsonOpen), let end = html.range(of: jsonClose, range: start.upperBound..<html.endIndex) else { return nil }
        return Data(html[start.upperBound..<end.lowerBound].replacingOccurrences(of: "\\u003c", with: "<").utf8)
    }
}
