// One PC's page on the bench (`/machines/NAME`), in French: identity, health grade,
// inventory, each disk's erase, install and delivery, and every event. Rendered on the
// server with everything escaped (the text comes from the PCs); no script, no external
// resource.

import Certificates
import Foundation
import InstallJournal
import Inventory
import MachineRecords

enum MachinePage {
    static let installLabels = ["delivered": "Livré", "finished": "Installé", "failed": "Échec", "installing": "En cours", "seen": "Vu"]

    static func render(_ r: MachineRecord, site: String, keyFingerprint: String?) -> String {
        let e = CertificateHTML.escape
        let name = e(r.key)
        let path = r.key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? ""
        let inventory = r.inventory.map { inv -> String in
            let battery = inv.battery.map { "usure \($0.wearPercent) %" } ?? "aucune"
            return """
            <tr><th>Processeur</th><td id="cpu">\(e(inv.cpu.model)) (\(inv.cpu.cores) cœurs)</td></tr>
            <tr><th>Mémoire</th><td id="ram">\(String(format: "%.1f", Double(inv.memoryBytes) / Double(1 << 30)).replacingOccurrences(of: ".", with: ",")) Gio\(inv.memorySource.map { " (\($0.label))" } ?? "")</td></tr>
            <tr><th>Batterie</th><td>\(battery)</td></tr>
            <tr><th>Interfaces réseau</th><td>\(e(inv.nics.map { "\($0.name) \($0.mac)" }.joined(separator: ", ")))</td></tr>
            """
        } ?? "<tr><th>Inventaire</th><td>aucun (le poste n'a pas démarré le diagnostic)</td></tr>"
        let disks = r.disks.map { d -> String in
            let health = d.disk?.health.map { h in
                var parts = ["SMART " + h.overall.rawValue]
                if let v = h.powerOnHours { parts.append("\(v) h") }
                if let v = h.reallocatedSectors { parts.append("\(v) réalloués") }
                if let v = h.pendingSectors { parts.append("\(v) en attente") }
                if let v = h.percentageUsed { parts.append("\(v) % utilisé") }
                return parts.joined(separator: ", ")
            } ?? "inconnue"
            let erase = d.wipe.map { w in "\(w.method.label), vérification \(w.verification.rawValue)" + (w.methodReason.map { " (motif : \($0))" } ?? "") } ?? "—"
            let result = d.erased ? "<td class=\"ok\">Effacé</td>"
                : "<td class=\"ko\">NON effacé\(d.wipe.map { " : " + e($0.reason) } ?? "")</td>"
            return "<tr data-serial=\"\(e(d.serial))\" data-erased=\"\(d.erased)\"><td>\(e(d.serial))</td><td>\(e(d.disk?.model ?? d.wipe?.model ?? ""))</td>"
                + "<td>\(e(d.disk?.transport.rawValue.uppercased() ?? ""))</td><td>\(e(health))</td><td>\(e(erase))</td>\(result)</tr>"
        }.joined(separator: "\n")
        let events = r.events.filter { $0.kind != .installerLog }.map { ev in
            let extra = [InstallField.entry, .step, .diskSerial, .reason].compactMap { ev[$0] }.joined(separator: " ")
            return "<tr><td>\(e(MachineCSV.isoTime(ev.realtimeMicroseconds)))</td><td>\(e(ev.kind?.rawValue ?? "-"))</td><td>\(e(ev[.mac] ?? ""))</td><td>\(e(extra))</td></tr>"
        }.joined(separator: "\n")
        let grade = r.health.map { "<span class=\"grade\">\($0.grade.rawValue)</span> \(e($0.grade.label))" + ($0.reasons.isEmpty ? "" : "<br><span class=\"small\">\(e($0.reasons.joined(separator: " ; ")))</span>") } ?? "—"
        return """
        <!DOCTYPE html>
        <html lang="fr">
        <head>
        <meta charset="utf-8">
        <title>Poste \(name) — garage-pxe</title>
        <style>
        body { font: 15px/1.4 system-ui, "DejaVu Sans", sans-serif; margin: 1.5em; color: #1c2429; }
        table { border-collapse: collapse; margin: .5em 0 1.5em; }
        th, td { border-bottom: 1px solid #ddd; padding: .3em .7em; text-align: left; vertical-align: top; }
        .ok { color: #2e7d32; font-weight: 600; } .ko { color: #c62828; font-weight: 600; }
        .grade { font-size: 1.4em; font-weight: 700; } .small { font-size: .85em; color: #546e7a; }
        @media print { a { color: inherit; text-decoration: none; } }
        </style>
        </head>
        <body>
        <p><a href="/">← Tableau de l'atelier</a> · <a href="/machines.csv">Registre des postes (CSV)</a></p>
        <h1>Poste <span id="key">\(name)</span></h1>
        <table id="identity">
        <tr><th>Fabricant</th><td>\(e(r.manufacturer ?? "—"))</td></tr>
        <tr><th>Modèle</th><td>\(e(r.product ?? "—"))</td></tr>
        <tr><th>Numéro de série</th><td id="serial">\(e(r.serial ?? "—"))</td></tr>
        <tr><th>UUID</th><td>\(e(r.uuid ?? "—"))</td></tr>
        <tr><th>Adresses MAC</th><td id="macs">\(e(r.macs.joined(separator: ", ")))</td></tr>
        <tr><th>Site</th><td>\(e(r.site ?? site))</td></tr>
        <tr><th>Vu la première fois</th><td>\(e(MachineCSV.isoTime(r.firstSeenMicroseconds)))</td></tr>
        <tr><th>Note de santé</th><td id="grade">\(grade)</td></tr>
        \(inventory)
        <tr><th>Effacement</th><td id="erase-result">\(e(r.eraseResult.label))</td></tr>
        <tr><th>Installation</th><td id="install-result">\(e(installLabels[r.installResult] ?? r.installResult))</td></tr>
        <tr><th>Livré</th><td id="delivered">\(r.deliveredMicroseconds.map { "oui, le " + e(MachineCSV.isoTime($0)) } ?? "non")</td></tr>
        </table>
        <h2>Disques</h2>
        <table id="disks">
        <tr><th>N° de série</th><th>Modèle</th><th>Type</th><th>Santé</th><th>Méthode</th><th>Résultat</th></tr>
        \(disks)
        </table>
        <p>Certificat d'effacement signé : <a id="certificate" href="/certificates/\(path).html">HTML imprimable</a> · <a href="/certificates/\(path).json">JSON</a>\(keyFingerprint.map { " — clé du site, empreinte " + e($0) } ?? "")</p>
        <h2>Historique</h2>
        <table id="events">
        <tr><th>Date</th><th>Événement</th><th>MAC</th><th>Détail</th></tr>
        \(events)
        </table>
        </body>
        </html>

        """
    }
}
