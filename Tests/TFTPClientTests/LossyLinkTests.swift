import Foundation
import Testing
import TestSupport
import TFTP

/// Two network namespaces made for the test, joined by a userspace link (the kernel has
/// no netem) that delays every packet 1 ms and drops a seeded share in each direction.
/// The real daemon (`garage-pxe serve`) runs in one, bound to its end of the link on
/// port 69; the real clients run in the other.
final class LossyLab {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let clientNS: String
    let serverNS: String
    let serverAddress = "10.99.0.2"
    let dir: String
    private var processes: [Process] = []

    init(loss: Double, seed: Int, tag: String) throws {
        let unique = "\(getpid() % 100_000)\(tag)"
        clientNS = "gpxtftp-c\(unique)"
        serverNS = "gpxtftp-s\(unique)"
        dir = Fixtures.scratch()
        // Whatever was made before a failure is removed again: a failed start must not
        // leave namespaces or a forwarder behind.
        do {
            for ns in [clientNS, serverNS] {
                let added = try runProcess("/usr/sbin/ip", ["netns", "add", ns], limit: 10)
                guard added.status == 0 else { throw LabError("ip netns add \(ns): \(added.output)") }
            }
            let ready = dir + "/link.ready"
            try start("/usr/bin/python3", [Self.repo.appendingPathComponent("scripts/lossy-link/lossy_link.py").path,
                                           "--ns-a", clientNS, "--ns-b", serverNS, "--addr-a", "10.99.0.1", "--addr-b", serverAddress,
                                           "--loss", "\(loss)", "--delay-ms", "1", "--seed", "\(seed)", "--ready-file", ready,
                                           "--max-seconds", "900"], log: dir + "/link.log")
            try waitFor("the lossy link") { FileManager.default.fileExists(atPath: ready) }

            let config = """
                network: {interface: lossy0, address: \(serverAddress)}
                tftp: {root: \(Fixtures.root), timeout_ms: 1000}
                bootfiles: {bios: one, efi: exact512, efi_snponly: empty}
                paths: {menus: \(Self.repo.appendingPathComponent("pxe-menus").path), images: \(dir)/images}
                """
            try config.write(toFile: dir + "/garage-pxe.yaml", atomically: true, encoding: .utf8)
            // The daemon serves the shipped menus, which need their image to exist.
            try TestImages.create(in: URL(fileURLWithPath: dir + "/images"))
            let binary = ProcessInfo.processInfo.environment["GARAGE_PXE_BIN"]
                ?? Self.repo.appendingPathComponent(".build/debug/garage-pxe").path
            try start("/usr/sbin/ip", ["netns", "exec", serverNS, binary, "serve", "--config", dir + "/garage-pxe.yaml", "--user", "root",
                                                       "--events", "log", "--state", dir + "/state"],
                      log: dir + "/garage-pxe.log")
            try waitFor("garage-pxe to start") { self.serverLog.contains("garage-pxe started") }
        } catch {
            tearDown()
            throw error
        }
    }

    var serverLog: String { (try? String(contentsOfFile: dir + "/garage-pxe.log", encoding: .utf8)) ?? "" }
    var linkLog: String { (try? String(contentsOfFile: dir + "/link.log", encoding: .utf8)) ?? "" }

    private func start(_ executable: String, _ arguments: [String], log: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        processes.append(p)
    }

    private func waitFor(_ what: String, _ condition: () -> Bool) throws {
        for _ in 0..<1200 where !condition() { usleep(50_000) }
        guard condition() else { throw LabError("\(what) did not come up:\n\(serverLog)\n\(linkLog)") }
    }

    func fetch(_ client: Client, _ name: String, into output: String) throws -> ProcessResult {
        try client.fetch(host: serverAddress, port: 69, name: name, output: output, limit: 120,
                         wrapper: ["/usr/sbin/ip", "netns", "exec", clientNS])
    }

    /// Stops what this lab started (by PID, newest first) and deletes its namespaces.
    func tearDown() {
        for p in processes.reversed() where p.isRunning {
            p.terminate()
            for _ in 0..<100 where p.isRunning { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        for ns in [clientNS, serverNS] { _ = try? runProcess("/usr/sbin/ip", ["netns", "del", ns], limit: 10) }
    }
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

@Suite("real TFTP clients over a lossy link", .serialized)
struct LossyLinkTests {
    static let files = ["one", "exact512", "sub/kernel"]

    @Test("every transfer completes with identical bytes", arguments: [(0.02, "a"), (0.05, "b")])
    func lossyTransfers(loss: Double, tag: String) throws {
        let lab = try LossyLab(loss: loss, seed: Int(loss * 100), tag: tag)
        defer { lab.tearDown() }
        let clients: [Client] = [.tftpHPA, .atftpBlksize, .atftpWindow, .curlBlksize]
        for client in clients {
            for name in Self.files {
                let target = lab.dir + "/\(client.hashValue)-" + name.replacingOccurrences(of: "/", with: "_")
                let result = try lab.fetch(client, name, into: target)
                #expect(!result.timedOut && result.status == 0, "\(client) \(name) at \(loss):\n\(result.output)")
                #expect(try sha256(target) == sha256(Fixtures.root + "/" + name), "\(client) \(name) at \(loss)")
            }
        }
        // The link did drop packets, in both directions.
        lab.tearDown()
        let counts = lab.linkLog.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(counts.count == 4 && counts[1] > 0 && counts[3] > 0, "\(lab.linkLog)")
        let log = lab.serverLog
        #expect(log.contains("tftp.sent"))
        #expect(log.contains("retransmissions="))
        #expect(!log.contains("tftp.failed"))
    }
}
