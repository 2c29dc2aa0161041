import Testing
import UDP
@testable import TFTP

/// The silence ceiling (`limits.tftp_silent_transfer_seconds`): whatever `timeout` a client
/// asks for, a transfer it stops moving on gives back its slot. Driven by hand with the
/// injected clock, so the instants are exact.
@Suite("TFTP transfer state machine: silence ceiling")
struct SilentTransferTests {
    typealias T = TransferStateMachineTests

    /// A transfer whose client asked `timeout 255` (acknowledged in the OACK).
    static func patient(_ bytes: [UInt8], silence: Duration) -> TFTPTransfer {
        T.transfer(bytes, oack: [("timeout", "255")], timeoutSeconds: 255,
                   policy: TFTPRetransmitPolicy(silenceLimit: silence))
    }

    /// Feeds the transfer its wakes and, every `ackEvery` (if set), an ACK of the newest
    /// block it sent (`repeatFirstAck`: the same ACK again and again) until it finishes.
    /// Returns the outcome, the instant it came, and every wake asked for.
    static func run(_ t: inout TFTPTransfer, ackEvery: Duration? = nil, repeatFirstAck: Bool = false,
                    steps: Int = 100_000) -> (TFTPTransferOutcome?, TFTPInstant, [TFTPInstant]) {
        var actions = t.start(now: T.t0)
        var wakes: [TFTPInstant] = []
        var wake: TFTPInstant?
        // After an OACK the client's first ACK is 0.
        var newest: UInt16? = T.data(actions).isEmpty ? 0 : nil
        var firstAck: UInt16?
        var nextAck = ackEvery.map { T.t0.advanced(by: $0) }
        var now = T.t0
        for _ in 0..<steps {
            if let o = T.outcome(actions) { return (o, now, wakes) }
            if let block = T.data(actions).last?.block { newest = block }
            if let w = T.wake(actions) { wake = w; wakes.append(w) }
            if let ackAt = nextAck, wake.map({ ackAt < $0 }) ?? true, let block = newest {
                now = ackAt
                nextAck = ackAt.advanced(by: ackEvery!)
                let acked = repeatFirstAck ? (firstAck ?? block) : block
                firstAck = firstAck ?? acked
                actions = t.handle(T.ack(acked), from: T.client, now: now)
            } else if let w = wake {
                now = w
                actions = t.timeout(now: now)
            } else {
                return (nil, now, wakes)
            }
        }
        return (T.outcome(actions), now, wakes)
    }

    @Test("a client asking 'timeout 255' that never ACKs is abandoned at the silence ceiling, not minutes later")
    func neverAcks() throws {
        var t = Self.patient(T.content(100 * 512), silence: .seconds(30))
        let (outcome, at, wakes) = Self.run(&t)
        #expect(outcome == .timedOut(lastBlockSent: false))
        #expect(at == T.t0.advanced(by: .seconds(30)))
        #expect(t.statistics.finishedAt == T.t0.advanced(by: .seconds(30)))
        #expect(wakes.allSatisfy { $0 <= T.t0.advanced(by: .seconds(30)) }, "\(wakes)")
        // The OACK was sent again meanwhile, backing off as usual.
        #expect(t.statistics.retransmissions >= 3)
        #expect(t.isFinished)

        // Without the ceiling, the client's 255 s and the ten retries hold the slot for
        // more than 8 minutes: the ceiling is what ended the transfer above.
        var unbounded = Self.patient(T.content(100 * 512), silence: .seconds(3600))
        let (late, lateAt, _) = Self.run(&unbounded)
        #expect(late == .timedOut(lastBlockSent: false))
        #expect(lateAt.duration(since: T.t0) > .seconds(8 * 60))
    }

    @Test("a client that keeps ACKing, however slowly, is never cut off by the ceiling")
    func keepsAcking() throws {
        let bytes = T.content(40 * 512 + 9)
        var t = Self.patient(bytes, silence: .seconds(30))
        // One ACK every 20 s: 41 blocks take far longer than 30 s in all.
        let (outcome, at, _) = Self.run(&t, ackEvery: .seconds(20))
        #expect(outcome == .completed)
        #expect(at.duration(since: T.t0) > .seconds(10 * 30))
        #expect(t.statistics.bytesAcknowledged == bytes.count)
    }

    @Test("repeating the same ACK is not progress: the transfer is abandoned 30 s after the last useful ACK")
    func repeatedAckIsSilence() throws {
        var t = Self.patient(T.content(100 * 512), silence: .seconds(30))
        // ACK 0 (to the OACK) at t0 + 5 s moves the transfer on; its repeats every 5 s do not.
        let (outcome, at, _) = Self.run(&t, ackEvery: .seconds(5), repeatFirstAck: true)
        #expect(outcome == .timedOut(lastBlockSent: false))
        #expect(at == T.t0.advanced(by: .seconds(35)))
        #expect(t.statistics.ignoredPackets >= 5)
    }
}
