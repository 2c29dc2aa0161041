import Foundation
import Testing

/// Real PXE firmware against the real daemon: QEMU guests (SeaBIOS with QEMU's iPXE ROM,
/// OVMF's own UEFI PXE) on a bench LAN made of network namespaces that the script creates
/// and deletes, next to a plain DHCP server that knows nothing of PXE. Each run takes
/// 20-60 s under TCG; the two run side by side.
@Suite("real firmware end to end", .serialized)
struct RealFirmwareTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs a script, bounded: killed after `limit` seconds.
    static func run(_ script: String, _ arguments: [String], limit: Double) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repo.appendingPathComponent(script).path] + arguments
        var env = ProcessInfo.processInfo.environment
        if env["GARAGE_PXE_BIN"] == nil {
            env["GARAGE_PXE_BIN"] = repo.appendingPathComponent(".build/debug/garage-pxe").path
        }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: killer)
        // The minutes-long read and wait happen on a Dispatch thread, never on a Swift
        // concurrency one: the cooperative pool has one thread per core (two here), and
        // blocking them for a whole guest boot starves every async test running beside it
        // (the in-process HTTP server's handlers among them).
        let data: Data = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        killer.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("SeaBIOS + iPXE ROM and OVMF native PXE both boot through garage-pxe's proxyDHCP")
    func bothFirmwares() async throws {
        async let bios = Self.run("scripts/e2e/proxy-boot.sh", ["bios", "180"], limit: 300)
        async let uefi = Self.run("scripts/e2e/proxy-boot.sh", ["uefi", "240"], limit: 360)
        for (name, result) in try await [("bios", bios), ("uefi", uefi)] {
            print(result.output)
            #expect(result.status == 0, "\(name) firmware run failed:\n\(result.output)")
            #expect(result.output.contains("e2e: \(name) PASS"))
        }
    }
}
