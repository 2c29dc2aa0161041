import NetworkAddresses
import Testing
import UDP
@testable import TFTP

/// The transfer state machine driven by hand: packets and instants in, actions out.
/// No sockets, no sleeps; time is whatever the test says it is.
@Suite("TFTP transfer state machine")
struct TransferStateMachineTests {
    static let client = IPv4Endpoint(address: IPv4Address(hostOrder: 0x0a00_0002), port: 40000)
    static let stranger = IPv4Endpoint(address: IPv4Address(hostOrder: 0x0a00_0003), port: 40001)
    static let t0 = TFTPInstant(nanoseconds: 1_000_000_000)

    static func content(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) } }

    static func transfer(_ bytes: [UInt8], blockSize: Int = 512, windowSize: Int = 1, oack: [(String, String)] = [],
                         timeoutSeconds: Int? = nil, mode: TFTPMode = .octet,
                         policy: TFTPRetransmitPolicy = TFTPRetransmitPolicy()) -> TFTPTransfer {
        var options = TFTPNegotiatedOptions()
        options.blockSize = blockSize
        options.windowSize = windowSize
        options.timeoutSeconds = timeoutSeconds
        options.acknowledged = oack.map { (name: $0.0, value: $0.1) }
        return TFTPTransfer(peer: client, content: TFTPMemoryContent(bytes), mode: mode, options: options,
                            retransmit: policy, now: t0)
    }

    /// DATA packets among the actions, as (wire block, payload).
    static func data(_ actions: [TFTPTransfer.Action]) -> [(block: UInt16, payload: [UInt8])] {
        actions.compactMap {
            guard case .send(let bytes, let to) = $0, to == client, case .data(let b, let p)? = try? TFTPPacket(parsing: bytes) else { return nil }
            return (b, p)
        }
    }

    static func wake(_ actions: [TFTPTransfer.Action]) -> TFTPInstant? {
        actions.compactMap { if case .wake(let at) = $0 { at } else { nil } }.last
    }

    static func outcome(_ actions: [TFTPTransfer.Action]) -> TFTPTransferOutcome? {
        actions.compactMap { if case .finish(let o) = $0 { o } else { nil } }.first
    }

    static func ack(_ block: UInt16) -> [UInt8] { TFTPPacket.ack(block: block).serialize() }

    @Test("lockstep: 1025 bytes go out as 512 + 512 + 1 and complete on the last ACK")
    func lockstep() {
        let bytes = Self.content(1025)
        var t = Self.transfer(bytes)
        let first = t.start(now: Self.t0)
        #expect(Self.data(first).map(\.block) == [1])
        var received = Self.data(first)[0].payload
        var now = Self.t0
        for block in UInt16(1)...2 {
            now = now.advanced(by: .microseconds(300))
            let next = t.handle(Self.ack(block), from: Self.client, now: now)
            #expect(Self.data(next).map(\.block) == [block + 1])
            received += Self.data(next)[0].payload
        }
        let done = t.handle(Self.ack(3), from: Self.client, now: now.advanced(by: .microseconds(300)))
        #expect(Self.outcome(done) == .completed)
        #expect(received == bytes)
        #expect(t.statistics.bytesAcknowledged == 1025)
        #expect(t.statistics.retransmissions == 0)
        #expect(t.isFinished)
    }

    @Test("sizes 0 and exactly 512 end with a short (empty) block")
    func boundaries() {
        var empty = Self.transfer([])
        #expect(Self.data(empty.start(now: Self.t0)).map(\.payload.count) == [0])
        #expect(Self.outcome(empty.handle(Self.ack(1), from: Self.client, now: Self.t0)) == .completed)

        var exact = Self.transfer(Self.content(512))
        #expect(Self.data(exact.start(now: Self.t0)).map(\.payload.count) == [512])
        #expect(Self.data(exact.handle(Self.ack(1), from: Self.client, now: Self.t0)).map(\.payload.count) == [0])
        #expect(Self.outcome(exact.handle(Self.ack(2), from: Self.client, now: Self.t0)) == .completed)
    }

    @Test("with options the OACK goes first and DATA 1 follows ACK 0")
    func optionAck() throws {
        var t = Self.transfer(Self.content(2000), blockSize: 1468, oack: [("blksize", "1468"), ("tsize", "2000")])
        let first = t.start(now: Self.t0)
        guard case .send(let bytes, _) = first.first else { Issue.record("nothing sent"); return }
        #expect(try TFTPPacket(parsing: bytes) == .optionAck([("blksize", "1468"), ("tsize", "2000")]))
        #expect(Self.data(t.handle(Self.ack(1), from: Self.client, now: Self.t0)).isEmpty)
        let data = Self.data(t.handle(Self.ack(0), from: Self.client, now: Self.t0))
        #expect(data.map(\.block) == [1])
        #expect(data[0].payload.count == 1468)
    }

    @Test("a client error after the OACK ends the transfer as the client's choice")
    func clientAbort() {
        var t = Self.transfer(Self.content(10), oack: [("tsize", "10")])
        _ = t.start(now: Self.t0)
        let end = t.handle(TFTPPacket.error(code: 8, message: "User aborted").serialize(), from: Self.client, now: Self.t0)
        #expect(Self.outcome(end) == .abortedByClient(code: 8, message: "User aborted"))
        #expect(t.handle(Self.ack(0), from: Self.client, now: Self.t0).isEmpty)
    }

    @Test("timeouts resend the same block, back off, and give up after the retries")
    func retransmission() {
        let policy = TFTPRetransmitPolicy(initial: .milliseconds(100), minimum: .milliseconds(20), ceiling: .milliseconds(400), maxRetries: 3)
        var t = Self.transfer(Self.content(600), policy: policy)
        let first = t.start(now: Self.t0)
        let due = try! #require(Self.wake(first))
        #expect(due == Self.t0.advanced(by: .milliseconds(100)))
        // Too early: nothing resent, the same instant asked again.
        #expect(t.timeout(now: Self.t0.advanced(by: .milliseconds(50))) == [.wake(at: due)])
        let waits: [Duration] = [.milliseconds(200), .milliseconds(400), .milliseconds(400)]
        var now = due
        for wait in waits {
            let again = t.timeout(now: now)
            #expect(Self.data(again).map(\.block) == [1])
            #expect(Self.wake(again) == now.advanced(by: wait))
            now = now.advanced(by: wait)
        }
        #expect(t.statistics.retransmissions == 3)
        #expect(Self.outcome(t.timeout(now: now)) == .timedOut(lastBlockSent: false))
    }

    @Test("a duplicate ACK is never answered (Sorcerer's Apprentice)")
    func duplicateAck() {
        var t = Self.transfer(Self.content(2000))
        _ = t.start(now: Self.t0)
        #expect(Self.data(t.handle(Self.ack(1), from: Self.client, now: Self.t0)).map(\.block) == [2])
        // The delayed first copy of ACK 1 and any echo of it: no DATA 2 again.
        #expect(t.handle(Self.ack(1), from: Self.client, now: Self.t0).isEmpty)
        #expect(t.handle(Self.ack(1), from: Self.client, now: Self.t0).isEmpty)
        // A block never sent is not acknowledged either.
        #expect(t.handle(Self.ack(9), from: Self.client, now: Self.t0).isEmpty)
        #expect(t.statistics.packetsSent == 2)
        #expect(Self.data(t.handle(Self.ack(2), from: Self.client, now: Self.t0)).map(\.block) == [3])
    }

    @Test("a stranger gets error 5 and the transfer carries on")
    func foreignTID() throws {
        var t = Self.transfer(Self.content(1000))
        _ = t.start(now: Self.t0)
        let answer = t.handle(Self.ack(1), from: Self.stranger, now: Self.t0)
        guard case .send(let bytes, let to)? = answer.first, answer.count == 1 else { Issue.record("expected one error"); return }
        #expect(to == Self.stranger)
        #expect(try TFTPPacket(parsing: bytes) == .error(code: 5, message: "Unknown transfer ID"))
        // An error from a stranger is not answered at all.
        #expect(t.handle(TFTPPacket.error(code: 0, message: "x").serialize(), from: Self.stranger, now: Self.t0).isEmpty)
        #expect(!t.isFinished)
        #expect(Self.data(t.handle(Self.ack(1), from: Self.client, now: Self.t0)).map(\.block) == [2])
    }

    @Test("a window slides on the highest ACK inside it; a short ACK restarts it after the gap")
    func windowSlide() {
        var t = Self.transfer(Self.content(10 * 512 + 100), windowSize: 4)
        #expect(Self.data(t.start(now: Self.t0)).map(\.block) == [1, 2, 3, 4])
        #expect(Self.data(t.handle(Self.ack(4), from: Self.client, now: Self.t0)).map(\.block) == [5, 6, 7, 8])
        // Block 7 was lost: the client acknowledges 6. 7 and 8 go again, then 9 and 10.
        #expect(Self.data(t.handle(Self.ack(6), from: Self.client, now: Self.t0)).map(\.block) == [7, 8, 9, 10])
        #expect(t.statistics.retransmissions == 2)
        // Late duplicates of 6 and a stale 4 change nothing.
        #expect(t.handle(Self.ack(6), from: Self.client, now: Self.t0).isEmpty)
        #expect(t.handle(Self.ack(4), from: Self.client, now: Self.t0).isEmpty)
        #expect(Self.data(t.handle(Self.ack(10), from: Self.client, now: Self.t0)).map(\.block) == [11])
        #expect(Self.outcome(t.handle(Self.ack(11), from: Self.client, now: Self.t0)) == .completed)
        #expect(t.statistics.bytesAcknowledged == 10 * 512 + 100)
    }

    @Test("a timeout resends the whole window")
    func windowTimeout() throws {
        var t = Self.transfer(Self.content(3000), windowSize: 3)
        let due = try #require(Self.wake(t.start(now: Self.t0)))
        #expect(Self.data(t.timeout(now: due)).map(\.block) == [1, 2, 3])
        #expect(t.statistics.retransmissions == 3)
    }

    @Test("block numbers roll over from 65535 to 0 and the transfer completes")
    func rollover() {
        let blockSize = 8
        let bytes = Self.content(blockSize * 66_000 + 3)
        var t = Self.transfer(bytes, blockSize: blockSize, windowSize: 16)
        var received: [UInt8] = []
        received.reserveCapacity(bytes.count)
        var wire: [UInt16] = []
        var actions = t.start(now: Self.t0)
        var steps = 0
        while Self.outcome(actions) == nil && steps < 10_000 {
            let blocks = Self.data(actions)
            for b in blocks { received += b.payload; wire.append(b.block) }
            guard let last = blocks.last else { break }
            actions = t.handle(Self.ack(last.block), from: Self.client, now: Self.t0)
            steps += 1
        }
        #expect(Self.outcome(actions) == .completed)
        #expect(received == bytes)
        #expect(wire.count == 66_001)
        #expect(wire[65_534] == 65_535)
        #expect(wire[65_535] == 0)
        #expect(wire[65_536] == 1)
        #expect(t.statistics.retransmissions == 0)
    }

    @Test("the retransmit wait follows the measured round trip, within its bounds")
    func adaptiveTimer() throws {
        var t = Self.transfer(Self.content(100 * 512))
        var now = Self.t0
        _ = t.start(now: now)
        var last: TFTPInstant?
        for block in UInt16(1)...30 {
            now = now.advanced(by: .milliseconds(2))
            last = Self.wake(t.handle(Self.ack(block), from: Self.client, now: now))
        }
        // A steady 2 ms round trip: the wait settles at the 20 ms floor, not the 1 s ceiling.
        #expect(try #require(last) == now.advanced(by: .milliseconds(20)))
        var slow = Self.transfer(Self.content(100 * 512), timeoutSeconds: 2,
                                 policy: TFTPRetransmitPolicy(initial: .seconds(5), minimum: .milliseconds(20), ceiling: .seconds(1), maxRetries: 3))
        // The client's timeout option replaces the configured ceiling.
        #expect(Self.wake(slow.start(now: Self.t0)) == Self.t0.advanced(by: .seconds(2)))
    }

    @Test("netascii turns LF into CR LF and CR into CR NUL, across block boundaries")
    func netascii() {
        let text = Array("line1\nab\rcdefg\n".utf8)
        let expected = Array("line1\r\nab\r\0cdefg\r\n".utf8)
        var t = Self.transfer(text, blockSize: 8, mode: .netascii)
        var received: [UInt8] = []
        var actions = t.start(now: Self.t0)
        for _ in 0..<10 {
            guard let block = Self.data(actions).last else { break }
            received += block.payload
            actions = t.handle(Self.ack(block.block), from: Self.client, now: Self.t0)
            if Self.outcome(actions) != nil { break }
        }
        #expect(Self.outcome(actions) == .completed)
        #expect(received == expected)
        #expect(try! TFTPMemoryContent(text).transferSize(mode: .netascii) == expected.count)
    }
}
