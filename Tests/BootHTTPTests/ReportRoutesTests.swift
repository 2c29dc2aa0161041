import BootHTTP
import BootMenus
import Certificates
import Crypto
import Foundation
import InstallJournal
import Inventory
import MachineRecords
import Testing
import TestSupport

/// The report routes and the per-PC pages, with real curl (and a real headless Chromium for
/// the machine page) against the real HTTP server. The token check is the injected
/// The daemon's own report-token store, with one diagnostic session issued for `mac`.
@Suite("reports and machine records over HTTP, real curl", .serialized)
struct ReportRoutesTests {
    static let mac = "52:54:00:e5:00:01"
    /// One store per test run, its diagnostic token issued for `mac` (an install token for
    /// the same MAC must not prove a report: checked below).
    static let sessions = ReportSessions(directory: nil)
    static let token = sessions.issue(mac: mac, purpose: .diagnostic, address: "127.0.0.1").text
    static let installToken = sessions.issue(mac: "52:54:00:00:00:98", purpose: .install, address: "127.0.0.1").text

    static func inventoryJSON(serial: String = "PF0ERASE1") throws -> Data {
        try JSONEncoder().encode(InventoryReport(
            machine: DMIIdentity(manufacturer: "LENOVO", product: "ThinkPad T480", serial: serial, uuid: "u"),
            cpu: CPUInfo(model: "Intel(R) Core(TM) i5-8350U", cores: 8), memoryBytes: 8 << 30,
            disks: [DiskInventory(name: "sda", model: "SSD", serial: "DISK-A", sizeBytes: 1 << 30, transport: .sata,
                                  health: DiskHealth(overall: .passed, powerOnHours: 10)),
                    DiskInventory(name: "sdb", model: "RO", serial: "DISK-RO", sizeBytes: 1 << 30, transport: .sata,
                                  health: DiskHealth(overall: .passed))],
            nics: [NICInfo(name: "eth0", mac: mac)]))
    }

    static func wipeJSON(_ serial: String, ok: Bool) throws -> Data {
        try JSONEncoder().encode(DiskWipeReport(
            serial: serial, model: "SSD", sizeBytes: 1 << 30, method: ok ? .ataSecureErase : .overwrite, passes: 1,
            started: "2026-12-06T06:00:00Z", ended: "2026-12-06T06:01:00Z", verification: ok ? .verified : .notRun,
            success: ok, reason: ok ? "" : "pwrite: Operation not permitted"))
    }


    func post(_ server: RunningBootServer, _ path: String, _ body: Data) async throws -> (status: Int, body: String) {
        let file = server.root.appendingPathComponent("post-\(UUID().uuidString)")
        try body.write(to: file)
        let r = try await server.curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", "@" + file.path, server.base + path])
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    @Test("a report needs the boot's token; bodies are bounded and validated; accepted ones become events")
    func reports() async throws {
        let server = try await RunningBootServer(reports: ReportSettings(sessions: Self.sessions, maximumInventoryBytes: 4096))
        defer { server.stop() }
        let inventory = try Self.inventoryJSON()
        let q = "mac=\(Self.mac)&token=\(Self.token)"
        #expect(try await post(server, "/report/inventory?mac=\(Self.mac)", inventory).status == 403)
        #expect(try await post(server, "/report/inventory?mac=\(Self.mac)&token=wrong", inventory).status == 403)
        #expect(try await post(server, "/report/inventory?mac=52:54:00:00:00:99&token=\(Self.token)", inventory).status == 403)
        #expect(try await post(server, "/report/inventory?token=\(Self.token)", inventory).status == 400)
        // An install token is not a diagnostic token.
        #expect(try await post(server, "/report/inventory?mac=52:54:00:00:00:98&token=\(Self.installToken)", inventory).status == 403)
        #expect(server.events.allSatisfy { if case .refused = $0 { true } else { false } }, "nothing but refusals so far")
        let tooBig = try await post(server, "/report/inventory?\(q)", Data(repeating: 0x20, count: 5000))
        #expect(tooBig.status == 413)
        let badJSON = try await post(server, "/report/inventory?\(q)", Data("{\"machine\":{\"serial\":1}}".utf8))
        #expect(badJSON.status == 400 && badJSON.body.contains("not valid JSON"), "\(badJSON)")
        var hostile = try JSONSerialization.jsonObject(with: inventory) as! [String: Any]
        var machine = hostile["machine"] as! [String: Any]
        machine["serial"] = "PF0\u{1b}[2J"
        hostile["machine"] = machine
        let control = try await post(server, "/report/inventory?\(q)", try JSONSerialization.data(withJSONObject: hostile))
        #expect(control.status == 400 && control.body.contains("machine.serial contains a control character"), "\(control)")
        #expect(try await server.curl([server.base + "/report/inventory?\(q)"]).status == 404, "GET is not a report")

        #expect(try await post(server, "/report/inventory?\(q)", inventory).status == 200)
        #expect(try await post(server, "/report/wipe?\(q)", try Self.wipeJSON("DISK-A", ok: true)).status == 200)
        #expect(try await post(server, "/report/wipe?\(q)", try Self.wipeJSON("DISK-RO", ok: false)).status == 200)
        let accepted = server.events.compactMap { event -> String? in
            switch event {
            case .inventoried(let mac, let report, _): "inventory \(mac) \(report.machine.serial) \(report.disks.map(\.serial))"
            case .diskWipeReported(let mac, let report, _): "wipe \(mac) \(report.serial) \(report.erased)"
            default: nil
            }
        }
        #expect(accepted == ["inventory \(Self.mac) PF0ERASE1 [\"DISK-A\", \"DISK-RO\"]", "wipe \(Self.mac) DISK-A true", "wipe \(Self.mac) DISK-RO false"])
    }

    @Test("machine page (in a real headless Chromium), CSV download, signed certificates, site key")
    func machinePages() async throws {
        let inventory = try ReportValidation.inventory(from: try Self.inventoryJSON())
        func record(_ kind: InstallEventKind, _ fields: [InstallField: String], _ t: UInt64) -> JournalRecord {
            let event = InstallEvent(kind, fields: fields.merging([.mac: Self.mac, .site: "Atelier Test"]) { a, _ in a })
            return JournalRecord(realtimeMicroseconds: t * 1_000_000, message: event.message, priority: kind.priority,
                                 fields: Dictionary(uniqueKeysWithValues: event.journalFields.filter { $0.key.hasPrefix("GARAGE_PXE_") }.map { ($0.key, $0.value) }))
        }
        let wiped = ReportEvents.wipeEvent(try ReportValidation.wipe(from: try Self.wipeJSON("DISK-A", ok: true)))
        let failed = ReportEvents.wipeEvent(try ReportValidation.wipe(from: try Self.wipeJSON("DISK-RO", ok: false)))
        let events = [record(.machineInventoried, ReportEvents.inventoryFields(inventory), 1_780_000_000),
                      record(wiped.kind, wiped.fields, 1_780_000_100), record(failed.kind, failed.fields, 1_780_000_101)]
        let key = SiteSigningKey(key: Curve25519.Signing.PrivateKey())
        let access = MachineRecordsAccess(events: { events }, signingKey: key, site: { "Atelier Test" })
        let server = try await RunningBootServer(records: access)
        defer { server.stop() }

        let csv = try await server.curl([server.base + "/machines.csv"])
        #expect(csv.status == 200 && csv.headers["content-type"] == "text/csv; charset=utf-8")
        let lines = String(decoding: csv.body, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines.count == 3 && lines[1].hasPrefix("PF0ERASE1,LENOVO,ThinkPad T480,u,\(Self.mac),Atelier Test,"), "\(lines)")
        #expect(lines[1].contains(",A,,incomplete,1/2,seen,no,"), "\(lines[1])")

        for name in ["DISK-RO", "52-54-00-E5-00-01", "PF0ERASE1"] {
            #expect(try await server.curl([server.base + "/machines/\(name)"]).status == 200, "\(name)")
        }
        #expect(try await server.curl([server.base + "/machines/unknown"]).status == 404)

        let json = try await server.curl([server.base + "/certificates/PF0ERASE1.json"])
        #expect(json.status == 200)
        let signed = try CertificateVerifier.verify(json.body, trustedKey: Data(base64Encoded: key.publicKeyBase64)!)
        #expect(signed.certificate.disks.map(\.erased) == [true, false])
        let html = try await server.curl([server.base + "/certificates/PF0ERASE1.html"])
        #expect(html.status == 200)
        #expect(try CertificateVerifier.verify(html.body, trustedKey: Data(base64Encoded: key.publicKeyBase64)!).certificate.machine.serial == "PF0ERASE1")
        let siteKey = try await server.curl([server.base + "/site-key"])
        #expect(String(decoding: siteKey.body, as: UTF8.self).hasPrefix(key.publicKeyBase64 + "\n"))

        // The page as a browser renders it: a real headless Chromium's DOM.
        // Run without blocking a thread: the server answers Chromium from the same cooperative pool.
        let domFile = server.root.appendingPathComponent("dom.html")
        let profile = server.root.appendingPathComponent("chromium").path
        let status = try await runWithoutBlocking("/bin/sh", ["-c", """
            timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-extensions \
              --user-data-dir="$1" --dump-dom "$2" >"$3" 2>/dev/null
            """, "sh", profile, server.base + "/machines/PF0ERASE1", domFile.path])
        #expect(status == 0)
        let dom = (try? String(contentsOf: domFile, encoding: .utf8)) ?? ""
        #expect(dom.contains("<span id=\"key\">PF0ERASE1</span>"), "\(dom.prefix(2000))")
        #expect(dom.contains("<td id=\"erase-result\">INCOMPLET</td>"))
        #expect(dom.contains("<tr data-serial=\"DISK-RO\" data-erased=\"false\">"))
        #expect(dom.contains("NON effacé : pwrite: Operation not permitted"))
        #expect(dom.contains("<span class=\"grade\">A</span>"))
        #expect(dom.contains("href=\"/certificates/PF0ERASE1.html\""))
    }
}
