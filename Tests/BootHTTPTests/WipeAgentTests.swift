import BootHTTP
import BootMenus
import Foundation
import InstallJournal
import Inventory
import Testing
import TestSupport

/// The diagnostic environment's agent (pxe-wipe/garage-pxe-agent.sh), run by busybox sh
/// with busybox's applets (as in the boot environment) on two real block devices: loop
/// devices over image files filled with a pattern, one of them attached read-only. It
/// reports to the real HTTP server with real busybox wget. Only these two loop devices are
/// ever named to it (GARAGE_PXE_DISKS); the host's disks are never listed.
@Suite("wipe agent on loop devices, real busybox, real HTTP server", .serialized)
struct WipeAgentTests {
    static let mac = "52:54:00:e5:00:07"
    static let sessions = ReportSessions(directory: nil)
    static let token = sessions.issue(mac: mac, purpose: .diagnostic, address: "127.0.0.1").text
    static let pattern = Data("GARAGE-PXE-PATTERN-0123456789abcdef\n".utf8)
    static let imageBytes = 96 << 20

    @Test("inventory, overwrite and whole-disk read-back of the writable disk, the read-only one reported NOT erased")
    func agentErasesAndReports() async throws {
        let server = try await RunningBootServer(reports: ReportSettings(sessions: Self.sessions))
        defer { server.stop() }
        let dir = server.root.appendingPathComponent("agent")
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        // The boot environment's tools are busybox applets: the agent runs on those here too.
        for applet in ["wget", "tr", "od", "head", "wc", "cut", "sed", "dd", "awk", "grep", "date", "mktemp", "basename", "readlink", "cat", "rm"] {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(applet).path, withDestinationPath: "/bin/busybox")
        }
        var content = Data()
        while content.count < Self.imageBytes { content.append(Self.pattern) }
        content = content.prefix(Self.imageBytes)
        let writable = dir.appendingPathComponent("AHCI-DISK-1.img")
        let readOnly = dir.appendingPathComponent("RO-DISK-3.img")
        try content.write(to: writable)
        try content.write(to: readOnly)
        let a = try run("/sbin/losetup", ["--find", "--show", writable.path]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("/sbin/losetup", ["-d", a], allowFailure: true) }
        let b = try run("/sbin/losetup", ["--find", "--show", "--read-only", readOnly.path]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("/sbin/losetup", ["-d", b], allowFailure: true) }
        #expect(a.hasPrefix("/dev/loop") && b.hasPrefix("/dev/loop"))

        let cmdline = dir.appendingPathComponent("cmdline")
        try "quiet garage_pxe.server=\(server.base) garage_pxe.mac=\(Self.mac) garage_pxe.token=\(Self.token) garage_pxe.mode=erase garage_pxe.countdown=0\n"
            .write(to: cmdline, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("agent.log")
        let measure = dir.appendingPathComponent("measure.log")
        // Run without blocking a thread: the server answers from the same cooperative pool.
        let status = try await runWithoutBlocking("/bin/sh", ["-c", """
            GARAGE_PXE_CMDLINE="$1" GARAGE_PXE_DISKS="$2 $3" PATH="$4:$PATH" timeout 600 busybox sh "$5" >"$6" 2>&1
            echo "agent=$?" >>"$6"
            # The same disk's cost without the agent, in the same run: dd writing zeros, then a plain read.
            t0=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of="$2" bs=4M oflag=direct conv=fsync 2>/dev/null
            t1=$(cut -d' ' -f1 /proc/uptime); dd if="$2" of=/dev/null bs=4M iflag=direct 2>/dev/null
            t2=$(cut -d' ' -f1 /proc/uptime)
            echo "dd write $t0 $t1 read $t1 $t2" >"$7"
            """, "sh", cmdline.path, a, b, bin.path, Repo.path("pxe-wipe/garage-pxe-agent.sh"), log.path, measure.path])
        #expect(status == 0)
        let agentLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(agentLog.contains("agent=1"), "one disk failed, so the agent exits 1: \(agentLog)")

        // The journal's side: the events the server turned the reports into.
        var inventory: InventoryReport?
        var wipes: [DiskWipeReport] = []
        for event in server.events {
            if case .inventoried(let mac, let report, _) = event, mac == Self.mac { inventory = report }
            if case .diskWipeReported(let mac, let report, _) = event, mac == Self.mac { wipes.append(report) }
        }
        let disks = try #require(inventory?.disks, "\(agentLog)")
        #expect(disks.map(\.serial) == ["AHCI-DISK-1.img", "RO-DISK-3.img"], "\(agentLog)")
        #expect(disks.allSatisfy { $0.sizeBytes == UInt64(Self.imageBytes) && $0.transport == .other })
        #expect((inventory?.cpu.cores ?? 0) > 0 && (inventory?.memoryBytes ?? 0) > 0 && inventory?.memorySource != nil)
        #expect(wipes.map(\.serial) == ["AHCI-DISK-1.img", "RO-DISK-3.img"], "\(agentLog)")
        let ok = try #require(wipes.first)
        #expect(ok.erased && ok.method == .overwrite && ok.verification == .verified && ok.passes == 1, "\(ok)")
        // Why an overwrite: a loop device has no erase command of its own, and the report says so.
        #expect(ok.methodReason == "no NVMe, ATA or eMMC erase command for this kind of disk (other)", "\(ok)")
        let failed = try #require(wipes.last)
        #expect(!failed.erased && failed.method == .none && failed.verification == .notRun && failed.methodReason == nil, "\(failed)")
        #expect(failed.reason == "read-only device: cannot be written")

        // The disks themselves: no byte of the pattern left on the writable one, the read-only one untouched.
        let after = try Data(contentsOf: writable)
        #expect(after.count == Self.imageBytes && !after.contains { $0 != 0 }, "the writable image is all zeros")
        #expect(try Data(contentsOf: readOnly) == content)

        // Throughput, for the report (no assertion on wall-clock time).
        print("wipe-agent timings (uptime seconds): " + agentLog.split(separator: "\n").filter { $0.contains("pass") || $0.contains("read-back") }.joined(separator: " | ")
              + " || " + ((try? String(contentsOf: measure, encoding: .utf8)) ?? ""))
    }
}
