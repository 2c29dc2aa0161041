import Foundation
import Testing
import TestSupport
import TFTP
import UDP

/// What a curious trainee or broken firmware sends to port 69, on loopback: every hostile
/// request gets its error (or is dropped), lands in the server's counters, and a real
/// client (tftp-hpa) is still served afterwards.
@Suite("TFTP hostile input, on loopback")
struct HostileTFTPTests {
    typealias RawPeer = ServerBehaviourTests.RawPeer

    /// Waits (bounded) until the server's counters satisfy `done`.
    func statistics(of server: TFTPServer, within seconds: Double = 60,
                    until done: (TFTPServerStatistics) -> Bool) -> TFTPServerStatistics {
        let deadline = Date().addingTimeInterval(seconds)
        var s = server.statistics
        while !done(s) && Date() < deadline {
            usleep(2000)
            s = server.statistics
        }
        return s
    }

    /// tftp-hpa fetches `one` and gets the right byte: the server is still serving.
    func realClientStillServed(_ server: LoopbackServer) throws {
        let out = Fixtures.scratch() + "/one"
        let result = try Client.tftpHPA.fetch(port: server.port, name: "one", output: out, limit: 120)
        #expect(result.status == 0 && !result.timedOut, "\(result.output)")
        #expect(FileManager.default.contents(atPath: out) == Data([0x42]))
    }

    static let traversals: [String] = [
        "..", "../outside/secret", "/../outside/secret", "./../outside/secret", "sub/../../outside/secret",
        "sub/./../../outside/secret", "//..//outside//secret", "..\\outside\\secret", "sub\\..\\..\\outside\\secret",
        "\\..\\outside\\secret", "/root/../../outside/secret", "sub/..", "escape", "/escape", "./escape",
        "one\0../outside/secret", String(repeating: "../", count: 90) + "etc/passwd",
    ]

    @Test("traversal in every spelling: an access violation each, counted; never a byte of the secret")
    func traversal() throws {
        let server = try LoopbackServer()
        let peer = try RawPeer()
        for name in Self.traversals {
            try peer.send(.readRequest(TFTPRequest(filename: Array(name.utf8), modeName: "octet")), to: server.port)
            let reply = try #require(peer.receive(), "no answer to \(name.prefix(40))")
            guard case .error(let code, _) = reply.0 else {
                Issue.record("\(name.prefix(40)): expected an error, got \(reply.0)")
                continue
            }
            #expect(code == TFTPErrorCode.accessViolation.rawValue, "\(name.prefix(40))")
        }
        let s = statistics(of: server.server) { $0.refusedTotal >= Self.traversals.count }
        #expect(s.refused["access-violation"] == Self.traversals.count)
        #expect(s.started == 0)
        try realClientStillServed(server)
    }

    @Test("a write request is refused with error 2 and counted; nothing is written")
    func writeRequest() throws {
        let server = try LoopbackServer()
        let peer = try RawPeer()
        try peer.send(.writeRequest(TFTPRequest(filename: Array("upload".utf8), modeName: "octet")), to: server.port)
        let reply = try #require(peer.receive())
        #expect(reply.0 == .error(code: TFTPErrorCode.accessViolation.rawValue, message: "This server is read-only"))
        // DATA for the write that was never accepted: dropped, counted as stray.
        try peer.send(.data(block: 1, payload: [1, 2, 3]), to: server.port)
        let s = statistics(of: server.server) { $0.stray >= 1 }
        #expect(s.refused["access-violation"] == 1)
        #expect(s.stray == 1)
        #expect(!FileManager.default.fileExists(atPath: Fixtures.root + "/upload"))
        try realClientStillServed(server)
    }

    @Test("garbage, truncated and unknown-opcode datagrams to port 69 are dropped silently and counted")
    func garbage() throws {
        let server = try LoopbackServer()
        let peer = try RawPeer()
        var rng = SplitMix64(seed: 69)
        var sent = 0
        let fixed: [[UInt8]] = [[], [0], [0, 1], [0, 1, 0x41], [0, 1, 0x41, 0], [0, 9, 0, 0], [0xff, 0xff], [0, 6, 0x62, 0x6c]]
        for bytes in fixed { try peer.send(raw: bytes, to: server.port); sent += 1 }
        for _ in 0..<500 {
            let count = Int(rng.next() % 600)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Keep the opcode off 1 and 2 so none is a valid request by chance.
            if bytes.count >= 2 { bytes[0] = 0x80 | bytes[0] }
            try peer.send(raw: bytes, to: server.port)
            sent += 1
            // In bursts the socket buffer holds, so the kernel drops none (a slow,
            // sanitized server would otherwise miss some).
            if sent % 50 == 0 { _ = statistics(of: server.server) { $0.received >= sent } }
        }
        let s = statistics(of: server.server) { $0.received >= sent }
        #expect(s.received == sent)
        #expect(s.malformed == sent)
        #expect(peer.receive(within: 0.2) == nil, "garbage must never be answered")
        try realClientStillServed(server)
    }

    /// Each request's options and the OACK the server must send for them (file `one`, 1 byte).
    static let absurdOptions: [(asked: [(String, String)], acknowledged: [(String, String)])] = [
        ([("blksize", "0")], []),
        ([("blksize", "7")], []),
        ([("blksize", "65465")], [("blksize", "65464")]),
        ([("blksize", "-1")], []),
        ([("blksize", "99999999999999999999999")], []),
        ([("windowsize", "0")], []),
        ([("windowsize", "70000")], []),
        ([("windowsize", "-4")], []),
        ([("tsize", "-5")], [("tsize", "1")]),
        ([("tsize", "abc")], [("tsize", "1")]),
        ([("timeout", "0")], []),
        ([("timeout", "256")], []),
        ([("blksize", "")], []),
        ([("blksize", "512"), ("blksize", "8")], [("blksize", "512")]),
    ]

    @Test("absurd option values are left out of the OACK (or clamped) and the file still arrives whole")
    func absurdOptionValues() throws {
        let server = try LoopbackServer()
        for (index, entry) in Self.absurdOptions.enumerated() {
            let peer = try RawPeer()
            try peer.send(.readRequest(TFTPRequest(filename: Array("one".utf8), modeName: "octet",
                                                   options: entry.asked.map { (name: $0.0, value: $0.1) })), to: server.port)
            var (reply, tid) = try #require(peer.receive(), "case \(index)")
            if entry.acknowledged.isEmpty {
                #expect(reply == .data(block: 1, payload: [0x42]), "case \(index): \(entry.asked)")
            } else {
                #expect(reply == .optionAck(entry.acknowledged.map { (name: $0.0, value: $0.1) }), "case \(index): \(entry.asked)")
                try peer.socket.send(TFTPPacket.ack(block: 0).serialize(), to: tid)
                (reply, tid) = try #require(peer.receive(), "case \(index)")
                #expect(reply == .data(block: 1, payload: [0x42]), "case \(index)")
            }
            try peer.socket.send(TFTPPacket.ack(block: 1).serialize(), to: tid)
        }
        let s = statistics(of: server.server) { $0.finished["completed", default: 0] >= Self.absurdOptions.count }
        #expect(s.finished["completed"] == Self.absurdOptions.count)
        try realClientStillServed(server)
    }

    @Test("ACKs for blocks never sent change nothing and are counted; the transfer then goes on")
    func acksForBlocksNeverSent() throws {
        let server = try LoopbackServer()
        let peer = try RawPeer()
        try peer.send(.readRequest(TFTPRequest(filename: Array("sub/kernel".utf8), modeName: "octet")), to: server.port)
        let (first, tid) = try #require(peer.receive())
        guard case .data(1, let payload1) = first else { Issue.record("expected DATA 1, got \(first)"); return }
        #expect(payload1.count == 512)
        // Blocks 2, 500, 65535 were never sent; 0 precedes the transfer.
        for block: UInt16 in [2, 500, 65535, 0] {
            try peer.socket.send(TFTPPacket.ack(block: block).serialize(), to: tid)
        }
        // The next packet is DATA 1 again (retransmission) or DATA 2 after the real ACK, never a jump.
        try peer.socket.send(TFTPPacket.ack(block: 1).serialize(), to: tid)
        var sawBlock2 = false
        let deadline = Date().addingTimeInterval(60)
        while !sawBlock2 && Date() < deadline {
            guard let (packet, _) = peer.receive(within: 1) else { continue }
            guard case .data(let block, _) = packet else { Issue.record("unexpected \(packet)"); break }
            #expect(block == 1 || block == 2)
            sawBlock2 = block == 2
        }
        #expect(sawBlock2)
        try peer.socket.send(TFTPPacket.error(.notDefined, "bye").serialize(), to: tid)
        let s = statistics(of: server.server) { $0.finished["aborted", default: 0] >= 1 }
        #expect(s.finished["aborted"] == 1)
        #expect(s.ignoredTransferPackets >= 4)
        try realClientStillServed(server)
    }

    @Test("a flood of requests past the transfer cap: 'busy' for each, counted; slots come back and a real client is served")
    func floodPastTheCap() throws {
        var settings = TFTPServerSettings(root: Fixtures.root, maxTransfers: 4)
        // The holders never ACK: their transfers give up after three 2 s waits. The other 56
        // requests are sent once the four hold their slots, so they are all answered while
        // the slots are held unless handling 56 datagrams takes 6 s.
        settings.retransmit = TFTPRetransmitPolicy(initial: .seconds(2), minimum: .seconds(2),
                                                   ceiling: .seconds(2), maxRetries: 2)
        let server = try LoopbackServer(settings: settings)
        let peers = try (0..<60).map { _ in try RawPeer() }
        var busy = 0
        var data = 0
        func ask(_ group: ArraySlice<RawPeer>) throws {
            for peer in group {
                try peer.send(.readRequest(TFTPRequest(filename: Array("big".utf8), modeName: "octet")), to: server.port)
            }
            for peer in group {
                guard let (packet, _) = peer.receive(within: 60) else { Issue.record("a request got no answer"); continue }
                switch packet {
                case .error(0, let message) where message.hasPrefix("Server busy"): busy += 1
                case .data(1, _): data += 1
                default: Issue.record("unexpected \(packet)")
                }
            }
        }
        try ask(peers[..<4])
        #expect(data == 4, "the first four requests take the four slots")
        try ask(peers[4...])
        #expect(data == 4)
        #expect(busy == 56)
        let s = statistics(of: server.server, within: 120) { $0.finished["timed-out", default: 0] >= 4 }
        #expect(s.refused["busy"] == 56)
        #expect(s.started == 4)
        #expect(s.finished["timed-out"] == 4)
        #expect(server.server.activeTransfers == 0)
        try realClientStillServed(server)
    }

    /// `count` peers at `address` each ask for `big` with `timeout 255` and never ACK the
    /// OACK; returns how many got the OACK (a slot) and how many "Server busy".
    func hoard(_ server: LoopbackServer, from address: String, count: Int) throws -> (peers: [RawPeer], held: Int, busy: Int) {
        let peers = try (0..<count).map { _ in try RawPeer(address: address) }
        var held = 0
        var busy = 0
        for peer in peers {
            try peer.send(.readRequest(TFTPRequest(filename: Array("big".utf8), modeName: "octet",
                                                   options: [(name: "timeout", value: "255")])), to: server.port)
            // One at a time, so which requests get a slot does not depend on timing.
            guard let (packet, _) = peer.receive(within: 60) else { Issue.record("a request from \(address) got no answer"); continue }
            switch packet {
            case .optionAck(let options) where options.map(\.name) == ["timeout"]: held += 1
            case .error(0, let message) where message.hasPrefix("Server busy"): busy += 1
            default: Issue.record("unexpected \(packet)")
            }
        }
        return (peers, held, busy)
    }

    /// A server with room for 8 transfers, 4 per client, and `silence` as the ceiling, and
    /// 8 hoarding requests from `address`: 4 get a slot, 4 "Server busy".
    func hoardedServer(silence: Duration, from address: String) throws -> (LoopbackServer, [RawPeer]) {
        // Room for 8: without the per-client cap the hoarder would take every slot.
        var settings = TFTPServerSettings(root: Fixtures.root, maxTransfers: 8, maxTransfersPerClient: 4)
        settings.retransmit.silenceLimit = silence
        let server = try LoopbackServer(settings: settings)
        let hoarder = try hoard(server, from: address, count: 8)
        #expect(hoarder.held == 4)
        #expect(hoarder.busy == 4)
        return (server, hoarder.peers)
    }

    @Test("one address asking 8 times with 'timeout 255' holds only its 4 slots; another client is served meanwhile")
    func perClientCap() throws {
        // A ceiling long enough that the hoarder's slots are still held when the real client asks.
        let (server, hoarder) = try hoardedServer(silence: .seconds(600), from: "127.0.0.2")
        // tftp-hpa runs from 127.0.0.1: another client.
        try realClientStillServed(server)
        let s = statistics(of: server.server) { $0.finished["completed", default: 0] >= 1 }
        #expect(s.refused["client-busy"] == 4)
        #expect(s.refused["busy"] == nil)
        #expect(s.started == 5)
        #expect(server.server.activeTransfers == 4, "the hoarder's transfers hold their slots until the silence ceiling")
        // A third address gets its own four.
        let third = try hoard(server, from: "127.0.0.3", count: 4)
        #expect(third.held == 4)
        #expect(third.busy == 0)
        withExtendedLifetime((hoarder, third.peers)) {}
    }

    @Test("transfers whose client asked 'timeout 255' and went silent are abandoned at the silence ceiling; the same address is served again")
    func silentTransfersAbandoned() throws {
        // From 127.0.0.1, the address tftp-hpa uses too.
        let (server, hoarder) = try hoardedServer(silence: .seconds(3), from: "127.0.0.1")
        // With the client's 255 s and ten retries they would hold on for minutes; the
        // ceiling ends them 3 s after they started.
        let s = statistics(of: server.server, within: 120) { $0.finished["timed-out", default: 0] >= 4 }
        #expect(s.finished["timed-out"] == 4)
        #expect(s.refused["client-busy"] == 4)
        let reports = server.reports.wait(for: 8).filter { $0.outcome == .timedOut(lastBlockSent: false) }
        #expect(reports.count == 4)
        #expect(reports.allSatisfy { $0.duration >= .seconds(3) }, "\(reports.map(\.duration))")
        // Sessions leave the table in the same step that counts them finished.
        #expect(server.server.activeTransfers == 0)
        try realClientStillServed(server)
        withExtendedLifetime(hoarder) {}
    }
}
