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

    /// The read-back alone (`garage-pxe-agent verify`, no report) on a loop device with direct
    /// I/O over a zeroed file of 56 MiB and 512 bytes (read as four quarters of one 16 MiB
    /// block each, the last one short and partial), the file changed behind the device
    /// between runs: what it must find.
    @Test("the read-back finds one byte left at the very end, in the last quarter, behind a stale cached page, a zero on a disk of ones, and a read error; busybox's cmp too")
    func readBackFindsWhatIsLeft() async throws {
        let dir = URL(fileURLWithPath: "/var/tmp").appendingPathComponent("garage-pxe-verify-\(UInt32.random(in: 0..<1_000_000))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for applet in ["cmp", "tr", "head", "wc", "dd", "cat", "rm", "mktemp"] {
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent(applet).path, withDestinationPath: "/bin/busybox")
        }
        let size = (56 << 20) + 512
        let image = dir.appendingPathComponent("disk.img")
        try Data(count: size).write(to: image)
        let loop = try run("/sbin/losetup", ["--find", "--show", "--direct-io=on", image.path]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("/sbin/losetup", ["-d", loop], allowFailure: true) }
        // Direct I/O: the loop device reads the file itself, and a read past its end fails.
        #expect(try String(contentsOfFile: "/sys/block/\(loop.dropFirst(5))/loop/dio", encoding: .utf8).hasPrefix("1"))

        /// The agent's verdict with diffutils' cmp (as in the boot environment) or busybox's.
        /// (Started like the test above: busybox sh's `wait` hangs when its parent left SIGCHLD blocked.)
        let log = dir.appendingPathComponent("verify.log")
        func verify(_ byte: String = "000", busyboxCmp: Bool = false) async throws -> (verified: Bool, log: String) {
            let status = try await runWithoutBlocking("/bin/sh", ["-c", """
                GARAGE_PXE_CMDLINE=/dev/null PATH="$1/usr/sbin:/usr/bin:/sbin:/bin" timeout 300 busybox sh "$2" verify "$3" "$4" >"$5" 2>&1
                """, "sh", busyboxCmp ? bin.path + ":" : "", Repo.path("pxe-wipe/garage-pxe-agent.sh"), loop, byte, log.path])
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            #expect(status == 0 || status == 1, "\(output)")
            return (status == 0, output)
        }
        /// Writes into the file behind the device, in place (the loop device keeps its inode).
        func write(_ data: Data, at offset: Int) throws {
            let file = try FileHandle(forWritingTo: image)
            try file.seek(toOffset: UInt64(offset))
            try file.write(contentsOf: data)
            try file.close()
        }
        func poke(_ byte: UInt8, at offset: Int) throws { try write(Data([byte]), at: offset) }
        for busyboxCmp in [false, true] {
            #expect(try await verify(busyboxCmp: busyboxCmp).verified)
            // The very last byte, the first byte of the last quarter, the last of the one before.
            for offset in [size - 1, 48 << 20, (48 << 20) - 1] {
                try poke(0x44, at: offset)
                #expect(try await !verify(busyboxCmp: busyboxCmp).verified, "byte left at \(offset)")
                try poke(0, at: offset)
            }
            #expect(try await verify(busyboxCmp: busyboxCmp).verified)
        }

        // A stale cached page: the device held open and read through the page cache (zeros),
        // then a byte written behind it; the cache alone would say zeros.
        let held = try #require(FileHandle(forReadingAtPath: loop))
        while let chunk = try held.read(upToCount: 1 << 20), !chunk.isEmpty {}
        try poke(0x44, at: size / 2)
        #expect(try run("/usr/bin/cmp", ["-s", "-n", "\(size)", loop, "/dev/zero"], allowFailure: true).status == 0,
                "the cache does hold zeros: the check below is meaningful")
        #expect(try await !verify().verified, "the byte on the disk is found, not the cached zeros")
        try held.close()
        try poke(0, at: size / 2)

        // A disk of ones (a firmware erase's fill byte): ones verified, a zero left is found.
        try write(Data(repeating: 0xff, count: size), at: 0)
        #expect(try await verify("377").verified)
        try poke(0, at: size - 1)
        #expect(try await !verify("377").verified)
        #expect(try await !verify().verified)

        // A read error: the file shortened under the device; the device's end cannot be read.
        try write(Data(count: size), at: 0)
        #expect(try await verify().verified)
        let file = try FileHandle(forWritingTo: image)
        try file.truncate(atOffset: UInt64(size - 8192))
        try file.close()
        for busyboxCmp in [false, true] {
            let (verified, output) = try await verify(busyboxCmp: busyboxCmp)
            #expect(!verified && output.contains("could not be read whole (read error)"), "\(output)")
        }
    }
}
