import Foundation
import NetworkAddresses
import Testing
import TestSupport
import TFTP
import UDP

/// The jail, the read-only rule, the transfer cap, virtual files and per-client option
/// refusal, each tried by a real client where one can express it, by raw packets where
/// none can (a NUL byte, a stranger's ACK).
@Suite("TFTP server behaviour with real clients")
struct ServerBehaviourTests {
    /// A bare UDP peer for what no client program can send.
    final class RawPeer {
        let socket: UDPSocket
        /// `address`: any of 127.0.0.0/8 (all loopback on Linux), to act as another client.
        init(address: String = "127.0.0.1") throws {
            socket = try UDPSocket(UDPSocketOptions(bindAddress: IPv4Address(address)!, port: 0))
        }
        deinit { socket.close() }

        func send(_ packet: TFTPPacket, to port: UInt16) throws {
            try socket.send(packet.serialize(), to: IPv4Endpoint("127.0.0.1", port: port)!)
        }

        func send(raw bytes: [UInt8], to port: UInt16) throws {
            try socket.send(bytes, to: IPv4Endpoint("127.0.0.1", port: port)!)
        }

        /// The next packet, waiting at most `seconds`.
        func receive(within seconds: Double = 60) -> (TFTPPacket, IPv4Endpoint)? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let d = socket.receiveNow(), let p = try? TFTPPacket(parsing: d.bytes) { return (p, d.source) }
                usleep(1000)
            }
            return nil
        }
    }

    static let refusedNames: [(name: String, code: TFTPErrorCode, message: String)] = [
        ("../outside/secret", .accessViolation, "'..' in file name"),
        ("sub/../../outside/secret", .accessViolation, "'..' in file name"),
        ("sub\\..\\..\\outside\\secret", .accessViolation, "'..' in file name"),
        ("escape", .accessViolation, "Outside the TFTP root"),
        ("missing", .fileNotFound, "File not found"),
        // atftp cuts names to 255 bytes itself, so only tftp-hpa can send this one.
        (String(repeating: "a", count: 300), .accessViolation, "File name longer than 255 bytes"),
    ]

    @Test("tftp-hpa and atftp are refused every path out of the root, with the right error code",
          arguments: [Client.tftpHPA, .atftpBlksize])
    func jail(client: Client) throws {
        let server = try LoopbackServer()
        let out = Fixtures.scratch()
        let cases = client == .tftpHPA ? Self.refusedNames : Array(Self.refusedNames.dropLast())
        for (index, entry) in cases.enumerated() {
            let result = try client.fetch(port: server.port, name: entry.name, output: out + "/\(index)", limit: 120)
            #expect(!result.timedOut, "\(client) hung on \(entry.name.prefix(40))")
            // tftp-hpa prints "Error code N: message", atftp the message alone.
            let printed = client == .tftpHPA ? "Error code \(entry.code.rawValue): \(entry.message)" : "error received from server <\(entry.message)>"
            #expect(result.output.contains(printed), "\(client) \(entry.name.prefix(40)):\n\(result.output)")
            #expect(!FileManager.default.contentsEqual(atPath: out + "/\(index)", andPath: Fixtures.base + "/outside/secret"))
        }
        let reports = server.reports.wait(for: cases.count)
        #expect(reports.map(\.outcome) == cases.map { .refused($0.code, $0.message) })
        // A leading slash is only dropped.
        let slash = try client.fetch(port: server.port, name: "/one", output: out + "/slash", limit: 120)
        #expect(slash.status == 0, "\(slash.output)")
        #expect(try sha256(out + "/slash") == sha256(Fixtures.root + "/one"))
    }

    @Test("curl gets 'not found' (68) and 'permission' (69) exit codes")
    func curlErrors() throws {
        let server = try LoopbackServer()
        let out = Fixtures.scratch()
        #expect(try Client.curl.fetch(port: server.port, name: "missing", output: out + "/a", limit: 120).status == 68)
        #expect(try Client.curl.fetch(port: server.port, name: "escape", output: out + "/b", limit: 120).status == 69)
    }

    @Test("a NUL byte in the name is an access violation")
    func nulByte() throws {
        let server = try LoopbackServer()
        let peer = try RawPeer()
        try peer.send(raw: [0, 1] + Array("one\0../outside/secret\0octet\0".utf8), to: server.port)
        let reply = try #require(peer.receive())
        guard case .error(let code, _) = reply.0 else { Issue.record("expected an error, got \(reply.0)"); return }
        #expect(code == TFTPErrorCode.accessViolation.rawValue)
    }

    @Test("writes are refused with error 2, by tftp-hpa and atftp")
    func writeRequest() throws {
        let server = try LoopbackServer()
        let local = Fixtures.scratch() + "/upload"
        Fixtures.write(local, [1, 2, 3])
        let hpa = try runProcess("/usr/bin/tftp", ["-m", "octet", "127.0.0.1", "\(server.port)", "-c", "put", local, "upload"], limit: 120)
        #expect(hpa.output.contains("Error code 2"), "\(hpa.output)")
        let atftp = try runProcess("/usr/bin/atftp", ["--put", "-l", local, "-r", "upload", "127.0.0.1", "\(server.port)"], limit: 120)
        #expect(atftp.status != 0)
        #expect(atftp.output.contains("read-only"), "\(atftp.output)")
        #expect(!FileManager.default.fileExists(atPath: Fixtures.root + "/upload"))
        let reports = server.reports.wait(for: 2)
        #expect(reports.map(\.outcome) == Array(repeating: .refused(.accessViolation, "This server is read-only"), count: 2))
    }

    @Test("past the transfer cap the next client gets an error at once, not a slow transfer")
    func transferCap() throws {
        var settings = TFTPServerSettings(root: Fixtures.root, maxTransfers: 1)
        settings.retransmit = TFTPRetransmitPolicy(initial: .seconds(5), ceiling: .seconds(5))
        let server = try LoopbackServer(settings: settings)
        let holder = try RawPeer()
        // Holds the only slot: asks and never acknowledges.
        try holder.send(.readRequest(TFTPRequest(filename: Array("big".utf8), modeName: "octet")), to: server.port)
        #expect(holder.receive() != nil)
        let result = try Client.tftpHPA.fetch(port: server.port, name: "one", output: Fixtures.scratch() + "/one", limit: 120)
        #expect(result.output.contains("Error code 0: Server busy"), "\(result.output)")
        #expect(server.server.activeTransfers == 1)
    }

    @Test("lockstep transfers fill the first transfer thread to 8, then share the first two, the least busy first; windowed ones go to the least busy of all")
    func transferThreads() throws {
        var settings = TFTPServerSettings(root: Fixtures.root, maxWindowSize: 16)
        settings.retransmit = TFTPRetransmitPolicy(initial: .seconds(5), ceiling: .seconds(5))
        settings.maxTransfersPerClient = 16   // every holder is 127.0.0.1
        let server = try LoopbackServer(settings: settings)
        #expect(server.server.transfersByThread == Array(repeating: 0, count: TFTPServer.defaultTransferLoopCount))
        // Each holder starts a transfer and never acknowledges it, so it stays where it was put.
        func hold(windowSize: Int?) throws -> (peer: RawPeer, port: UInt16) {
            let holder = try RawPeer()
            let options = windowSize.map { [("windowsize", "\($0)")] } ?? []
            try holder.send(.readRequest(TFTPRequest(filename: Array("big".utf8), modeName: "octet", options: options)), to: server.port)
            let (_, tid) = try #require(holder.receive())
            return (holder, tid.port)
        }
        // 10 lockstep ones: the first 8 on the first thread (a LAN's PCs share one wake-up
        // there), the next two on the second, the least busy one (on one CPU, the first).
        let lockstep = try (0..<10).map { _ in try hold(windowSize: nil) }
        #expect(TFTPServer.lockstepTransfersOnFirstLoop == 8)
        let twoOrOne = min(2, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        var expected = Array(repeating: 0, count: TFTPServer.defaultTransferLoopCount)
        expected[0] = 8
        expected[twoOrOne - 1] += 2
        #expect(server.server.transfersByThread == expected)
        let windowed = try (0..<3).map { _ in try hold(windowSize: 4) }
        for index in 0..<3 { expected[twoOrOne + index] += 1 }
        #expect(server.server.transfersByThread == expected)
        // The first holder's transfer (on the first thread) ends: the first thread holds 7,
        // fewer than 8, and the next lockstep transfer goes there, though the second is less
        // busy.
        try lockstep[0].peer.send(.error(code: 0, message: "enough"), to: lockstep[0].port)
        #expect(server.reports.wait(for: 1).count == 1)
        expected[0] -= 1
        var seen: [Int] = []
        for _ in 0..<500 {
            seen = server.server.transfersByThread
            if seen == expected { break }
            usleep(10_000)
        }
        #expect(seen == expected)
        let another = try hold(windowSize: nil)
        expected[0] += 1
        #expect(server.server.transfersByThread == expected)
        withExtendedLifetime((lockstep, windowed, another)) {}
    }

    @Test("a virtual file is generated for the requesting client and served like a file")
    func virtualFile() throws {
        let server = try LoopbackServer()
        server.server.register(virtualFile: "/boot.ipxe") { client in
            Array("#!ipxe\necho hello \(client.endpoint.address) \(client.file)\n".utf8)
        }
        server.server.register(virtualFile: "nothing.ipxe") { _ in nil }
        let out = Fixtures.scratch()
        for client in [Client.tftpHPA, .curl, .atftpWindow] {
            let result = try client.fetch(port: server.port, name: "boot.ipxe", output: out + "/\(client.hashValue)")
            #expect(result.status == 0, "\(client): \(result.output)")
            #expect(try String(contentsOfFile: out + "/\(client.hashValue)", encoding: .utf8) == "#!ipxe\necho hello 127.0.0.1 boot.ipxe\n")
        }
        #expect(try Client.curl.fetch(port: server.port, name: "nothing.ipxe", output: out + "/n").status == 68)
    }

    @Test("options are refused per vendor: atftp asking blksize 1468 gets 512")
    func optionRefusal() throws {
        let settings = TFTPServerSettings(root: Fixtures.root, optionRefusals: [
            TFTPOptionRefusal(client: .vendor([0x52, 0x54, 0x00]), options: [.blksize]),
        ])
        let server = try LoopbackServer(settings: settings, neighbours: { _ in MACAddress("52:54:00:aa:bb:cc") })
        let target = Fixtures.scratch() + "/kernel"
        let result = try Client.atftpBlksize.fetch(port: server.port, name: "sub/kernel", output: target)
        #expect(result.status == 0, "\(result.output)")
        #expect(try sha256(target) == sha256(Fixtures.root + "/sub/kernel"))
        let report = try #require(server.reports.wait(for: 1).first)
        #expect(report.blockSize == 512)
        #expect(report.mac == MACAddress("52:54:00:aa:bb:cc"))
    }

    @Test("tsize is answered with the real size; a stranger's ACK gets error 5 and the transfer goes on")
    func tsizeAndForeignTID() throws {
        let server = try LoopbackServer()
        let client = try RawPeer()
        let stranger = try RawPeer()
        try client.send(.readRequest(TFTPRequest(filename: Array("sub/kernel".utf8), modeName: "octet",
                                                 options: [("tsize", "0"), ("blksize", "1000")])), to: server.port)
        let (oack, tid) = try #require(client.receive())
        #expect(oack == .optionAck([("tsize", "300000"), ("blksize", "1000")]))
        try stranger.send(.ack(block: 0), to: tid.port)
        let (error, from) = try #require(stranger.receive())
        #expect(error == .error(code: 5, message: "Unknown transfer ID"))
        #expect(from == tid)
        try client.send(.ack(block: 0), to: tid.port)
        let (data, _) = try #require(client.receive())
        guard case .data(let block, let payload) = data else { Issue.record("expected DATA, got \(data)"); return }
        #expect(block == 1)
        #expect(payload.count == 1000)
        try client.send(.error(code: 0, message: "enough"), to: tid.port)
        #expect(server.reports.wait(for: 1).first?.outcome == .abortedByClient(code: 0, message: "enough"))
    }

    @Test("netascii: tftp-hpa turns the CR LF back into the file's LF")
    func netascii() throws {
        let server = try LoopbackServer()
        let out = Fixtures.scratch()
        let result = try runProcess("/usr/bin/tftp", ["-m", "netascii", "127.0.0.1", "\(server.port)", "-c", "get", "text.cfg", out + "/text"])
        #expect(result.status == 0, "\(result.output)")
        #expect(try sha256(out + "/text") == sha256(Fixtures.root + "/text.cfg"))
        #expect(server.reports.wait(for: 1).first?.bytes == Fixtures.textLines * 23)
    }
}
