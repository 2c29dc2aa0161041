import Foundation
import Testing
import TFTP
import UDP

/// tftp-hpa, atftp and curl against the server on loopback; every download is compared
/// with its source by sha256.
@Suite("real TFTP clients on loopback")
struct RealClientTests {
    static let smallFiles = ["empty", "one", "exact512", "linked", "/sub/kernel"]

    @Test("small files arrive intact", arguments: Client.allCases)
    func smallFiles(client: Client) throws {
        let server = try LoopbackServer()
        let out = Fixtures.scratch()
        // curl 7.88 cannot save an empty TFTP file from any server ("getpeername() failed
        // with errno 107", the same against dnsmasq): it is left out of that one case.
        let names = client == .curl || client == .curlBlksize ? Array(Self.smallFiles.dropFirst()) : Self.smallFiles
        for name in names {
            let target = out + "/" + name.replacingOccurrences(of: "/", with: "_")
            let result = try client.fetch(port: server.port, name: name, output: target, limit: 300)
            #expect(!result.timedOut, "\(client) \(name) hung:\n\(result.output)")
            #expect(result.status == 0, "\(client) \(name) failed:\n\(result.output)")
            #expect(try sha256(target) == sha256(Fixtures.root + "/" + name), "\(client) \(name) differs")
        }
        let reports = server.reports.wait(for: names.count)
        #expect(reports.count == names.count)
        #expect(reports.allSatisfy { $0.outcome == .completed }, "\(reports.map(\.outcome))")
        #expect(reports.map(\.bytes).sorted() == ([0, 1, 512, 300_000, 300_000].suffix(names.count)))
    }

    @Test("atftp gets the block and window sizes it asked for")
    func negotiatedSizes() throws {
        let server = try LoopbackServer()
        let out = Fixtures.scratch()
        for client in [Client.atftpBlksize, .atftpWindow, .curlBlksize] {
            let result = try client.fetch(port: server.port, name: "sub/kernel", output: out + "/\(client.hashValue)")
            #expect(result.status == 0, "\(client):\n\(result.output)")
        }
        let reports = server.reports.wait(for: 3)
        #expect(reports.map(\.blockSize) == [1468, 512, 1468])
        #expect(reports.map(\.windowSize) == [1, 8, 1])
    }
}

/// 40 MiB at blksize 512 is 81,921 blocks: the block number rolls over past 65535.
@Suite("real TFTP clients: 40 MiB with block-number rollover", .serialized)
struct RolloverTests {
    @Test("the whole file arrives intact", arguments: [Client.tftpHPA, .curl, .atftpWindow])
    func bigFile(client: Client) throws {
        let server = try LoopbackServer()
        let target = Fixtures.scratch() + "/big"
        defer { try? FileManager.default.removeItem(atPath: target) }
        let result = try client.fetch(port: server.port, name: "big", output: target, limit: 300)
        #expect(!result.timedOut, "\(client) hung:\n\(result.output)")
        #expect(result.status == 0, "\(client) failed:\n\(result.output)")
        #expect(try sha256(target) == sha256(Fixtures.root + "/big"))
        let report = try #require(server.reports.wait(for: 1).first)
        #expect(report.outcome == .completed)
        #expect(report.bytes == Fixtures.bigSize)
        #expect(report.blockSize == 512)
    }
}
