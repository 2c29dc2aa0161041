import Foundation
import InstallJournal
import Inventory
import MachineRecords
import Testing

@Suite("reports: strict validation")
struct ReportValidationTests {
    @Test("a real-shaped inventory decodes, its NIC MACs normalised")
    func decodes() throws {
        var report = Samples.inventory()
        report.nics[1].mac = "52-54-00-E5-00-02"
        let decoded = try ReportValidation.inventory(from: try JSONEncoder().encode(report))
        #expect(decoded.nics.map(\.mac) == [Samples.mac, Samples.otherNIC])
        #expect(decoded.disks.map(\.transport) == [.sata, .nvme, .usb])
        // Empty DMI strings give no field, so they never hide the identity iPXE reported.
        var blank = Samples.inventory()
        blank.machine.serial = ""
        let fields = ReportEvents.inventoryFields(blank)
        #expect(fields[.serial] == nil && fields[.manufacturer] == "LENOVO" && fields[.diskSerials] == "S3Z9NB0K123456 19285D801234 USB-RO-0003")
        // The RAM's source, as the agent sends it; a report from before it was sent has none.
        #expect(fields[.memorySource] == nil)
        let agentJSON = String(decoding: try JSONEncoder().encode(Samples.inventory()), as: UTF8.self)
        for source in ["dmi", "kernel"] {
            let sent = try ReportValidation.inventory(from: Data(agentJSON.replacingOccurrences(of: "\"memoryBytes\":", with: "\"memorySource\":\"\(source)\",\"memoryBytes\":").utf8))
            #expect(sent.memorySource?.rawValue == source && ReportEvents.inventoryFields(sent)[.memorySource] == source)
        }
        #expect(throws: ReportError.self) {
            try ReportValidation.inventory(from: Data(agentJSON.replacingOccurrences(of: "\"memoryBytes\":", with: "\"memorySource\":\"guess\",\"memoryBytes\":").utf8))
        }
    }

    @Test("refusals name the field and the reason")
    func refusals() throws {
        func refusal(_ change: (inout InventoryReport) -> Void) throws -> String {
            var report = Samples.inventory()
            change(&report)
            let data = try JSONEncoder().encode(report)
            do throws(ReportError) {
                _ = try ReportValidation.inventory(from: data)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(try refusal { $0.machine.serial = "PF0\nFORGED" } == "machine.serial contains a control character")
        #expect(try refusal { $0.disks[1].serial = "" } == "disks[1].serial must not be empty")
        #expect(try refusal { $0.disks[0].model = String(repeating: "x", count: 129) } == "disks[0].model longer than 128 bytes")
        #expect(try refusal { $0.nics[0].mac = "not-a-mac" } == "nics[0].mac must be a MAC address such as 52:54:00:12:34:56")
        #expect(try refusal { $0.disks = Array(repeating: $0.disks[0], count: 65) } == "at most 64 disks")
        #expect(throws: ReportError.self) { try ReportValidation.inventory(from: Data("{\"machine\":{}}".utf8)) }
        do throws(ReportError) {
            _ = try ReportValidation.inventory(from: Data("{\"machine\":{}}".utf8))
        } catch {
            #expect(error.description.contains("missing key"), "\(error)")
        }
    }

    @Test("a wipe counts only when completed AND verified: an agent claiming success unverified lands as failed")
    func wipeVerdicts() throws {
        #expect(ReportEvents.wipeEvent(Samples.wipe("A", ok: true)).kind == .diskWiped)
        var claimed = Samples.wipe("B", ok: true)
        claimed.verification = .notRun
        let (kind, fields) = ReportEvents.wipeEvent(claimed)
        #expect(kind == .diskWipeFailed && kind.priority == 3)
        #expect(fields[.reason] == "read-back not verified (not-run)")
        var mismatch = Samples.wipe("C", ok: true)
        mismatch.verification = .mismatch
        #expect(ReportEvents.wipeEvent(mismatch).kind == .diskWipeFailed)
        let failed = ReportEvents.wipeEvent(Samples.wipe("D", ok: false))
        #expect(failed.kind == .diskWipeFailed && failed.fields[.reason] == "write refused: read-only device")
        #expect(throws: ReportError.self) { try ReportValidation.wipe(from: Data("{\"serial\":\"x\"}".utf8)) }
    }

    @Test("why the method: validated, journaled, read back; an agent without the field or with it empty records none")
    func methodReason() throws {
        func report(_ methodReason: String?) -> Data {
            let why = methodReason.map { ",\"methodReason\":\"\($0)\"" } ?? ""
            return Data("""
                {"serial":"E2E-NVME-0002","model":"QEMU NVMe Ctrl","sizeBytes":67108864,"method":"overwrite"\(why),"passes":1,\
                "started":"2026-12-06T06:00:00Z","ended":"2026-12-06T06:00:09Z","verification":"verified","success":true,"reason":""}
                """.utf8)
        }
        let why = "no sanitize block erase (SANICAP 0x0); format with secure erase (SES 1) refused: NVMe status: INVALID_FIELD(0x2)"
        let parsed = try ReportValidation.wipe(from: report(why))
        #expect(parsed.methodReason == why && parsed.method == .overwrite)
        let (kind, fields) = ReportEvents.wipeEvent(parsed)
        #expect(kind == .diskWiped && fields[.wipeMethodReason] == why)
        let back = try #require(ReportEvents.wipe(Samples.record(kind, fields, at: 1_780_000_000)))
        #expect(back.methodReason == why && back.erased)
        for silent in [nil, ""] as [String?] {
            let quiet = try ReportValidation.wipe(from: report(silent))
            #expect(quiet.methodReason == nil && ReportEvents.wipeEvent(quiet).fields[.wipeMethodReason] == nil)
        }
        #expect(throws: ReportError.self) { try ReportValidation.wipe(from: report("line\\nbreak")) }
        #expect(throws: ReportError.self) { try ReportValidation.wipe(from: report(String(repeating: "x", count: 1025))) }
        // The eMMC's transport and method decode (what the agent sends for a soldered eMMC).
        #expect(DiskTransport(rawValue: "emmc") == .emmc && DiskTransport(rawValue: "sd") == .sd)
        #expect(WipeMethod(rawValue: "mmc-secure-erase") == .mmcSecureErase)
    }
}

@Suite("health grade")
struct HealthGradeTests {
    @Test("the sample laptop is B: its USB stick has no SMART data, and the reason says so")
    func sample() {
        let assessment = HealthAssessment.assess(Samples.inventory())
        #expect(assessment.grade == .b)
        #expect(assessment.reasons == ["disque USB-RO-0003 : état SMART inconnu"])
    }

    @Test("thresholds")
    func thresholds() {
        func grade(_ change: (inout InventoryReport) -> Void) -> HealthGrade {
            var report = Samples.inventory()
            report.disks.removeLast() // no unknown disk: the baseline is A
            change(&report)
            return HealthAssessment.assess(report).grade
        }
        #expect(grade { _ in } == .a)
        #expect(grade { $0.disks[0].health?.overall = .failed } == .d)
        #expect(grade { $0.disks[0].health?.pendingSectors = 1 } == .c)
        #expect(grade { $0.disks[1].health?.percentageUsed = 90 } == .c)
        #expect(grade { $0.disks[1].health?.percentageUsed = 50 } == .b)
        #expect(grade { $0.disks[0].health?.powerOnHours = 30_001 } == .b)
        #expect(grade { $0.battery = BatteryInfo(designCapacity: 100, fullCapacity: 79) } == .b)
        #expect(grade { $0.battery = BatteryInfo(designCapacity: 100, fullCapacity: 50) } == .c)
        #expect(grade { $0.battery = BatteryInfo(designCapacity: 100, fullCapacity: 120) } == .a)
        #expect(grade { $0.memoryBytes = 3 << 30 } == .b)
        #expect(grade { $0.memoryBytes = 1 << 30 } == .c)
        // 4 GiB installed, 3.6 GiB seen by the kernel when DMI lists no memory device: not "< 4 GiB".
        #expect(grade { $0.memoryBytes = 36 << 30 / 10; $0.memorySource = .kernel } == .a)
        #expect(grade { $0.memoryBytes = 36 << 30 / 10; $0.memorySource = .dmi } == .b)
        #expect(grade { $0.memoryBytes = 3 << 30; $0.memorySource = .kernel } == .b)
        #expect(grade { $0.disks = [] } == .c)
    }
}

@Suite("one record per PC")
struct MachineRecordFoldTests {
    @Test("intake, inventory, erase, install from another NIC and delivery fold into one record keyed by the DMI serial")
    func journey() throws {
        let records = MachineRecords.fold(Samples.journey())
        #expect(records.count == 1, "\(records.map(\.key))")
        let r = try #require(records.first)
        #expect(r.key == "PF0ERASE1" && r.manufacturer == "LENOVO" && r.product == "ThinkPad T480")
        #expect(r.macs == [Samples.mac, Samples.otherNIC])
        #expect(r.health?.grade == .b)
        #expect(r.disks.map(\.serial) == ["S3Z9NB0K123456", "19285D801234", "USB-RO-0003"])
        #expect(r.disks.map(\.erased) == [true, true, false])
        #expect(r.eraseResult == .incomplete)
        #expect(r.installResult == "delivered" && r.delivered)
        #expect(r.events.count == 7)
        // Every name of the PC finds it.
        for name in ["PF0ERASE1", Samples.otherNIC, "52-54-00-E5-00-01", "19285D801234"] {
            #expect(MachineRecords.find(name, in: records)?.key == "PF0ERASE1", "\(name)")
        }
        #expect(MachineRecords.find("nope", in: records) == nil)
    }

    @Test("two PCs whose firmware says 'To Be Filled By O.E.M.' stay two records")
    func placeholderSerials() {
        let a = Samples.record(.menuShown, [.mac: "52:54:00:00:00:0a", .serial: "To Be Filled By O.E.M."], at: 1)
        let b = Samples.record(.menuShown, [.mac: "52:54:00:00:00:0b", .serial: "To Be Filled By O.E.M."], at: 2)
        let c = Samples.record(.menuShown, [.mac: "52:54:00:00:00:0c", .serial: "00000000"], at: 3)
        let records = MachineRecords.fold([a, b, c])
        #expect(records.map(\.key).sorted() == ["52:54:00:00:00:0a", "52:54:00:00:00:0b", "52:54:00:00:00:0c"])
    }

    @Test("every disk erased: erased; no wipe at all: not requested")
    func eraseResults() {
        var events = Samples.journey()
        let fixed = ReportEvents.wipeEvent(Samples.wipe("USB-RO-0003", ok: true))
        events.append(Samples.record(fixed.kind, fixed.fields.merging([.mac: Samples.mac]) { a, _ in a }, at: 1_780_002_000))
        #expect(MachineRecords.fold(events).first?.eraseResult == .erased)
        let untouched = events.filter { $0.kind != .diskWiped && $0.kind != .diskWipeFailed }
        #expect(MachineRecords.fold(untouched).first?.eraseResult == .notRequested)
    }

    @Test("CSV: one row per PC, quoted where needed, formulas defused")
    func csv() {
        var events = Samples.journey()
        events.append(Samples.record(.menuShown, [.mac: "52:54:00:00:00:0f", .serial: "=HYPERLINK(\"x\")", .product: "A, B"], at: 1_780_003_000))
        let text = MachineCSV.document(MachineRecords.fold(events))
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.count == 4 && lines[3].isEmpty)
        #expect(lines[0] == MachineCSV.header.joined(separator: ","))
        #expect(lines[1].hasPrefix("\"'=HYPERLINK(\"\"x\"\")\",,\"A, B\","), "\(lines[1])")
        #expect(lines[2].hasPrefix("PF0ERASE1,LENOVO,ThinkPad T480,"), "\(lines[2])")
        #expect(lines[2].contains(",B,disque USB-RO-0003 : état SMART inconnu,incomplete,2/3,delivered,yes,"), "\(lines[2])")
    }
}
