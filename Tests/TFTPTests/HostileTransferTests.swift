import Testing
import UDP
@testable import TFTP

/// A hostile or broken client against one transfer: what it sends changes nothing it should
/// not, and every such packet is counted (the server sums the counts for STATUS).
@Suite("TFTP transfer state machine, hostile client")
struct HostileTransferTests {
    typealias T = TransferStateMachineTests

    @Test("ACKs for blocks never sent, stray DATA and junk are ignored and counted; strangers are counted apart")
    func ignoredAndCounted() {
        let bytes = T.content(5000)
        var t = T.transfer(bytes, windowSize: 4, oack: [("windowsize", "4")])
        _ = t.start(now: T.t0)
        // Before the OACK is acknowledged, only ACK 0 counts.
        #expect(t.handle(T.ack(1), from: T.client, now: T.t0).isEmpty)
        #expect(T.data(t.handle(T.ack(0), from: T.client, now: T.t0)).map(\.block) == [1, 2, 3, 4])
        // Window 1–4 in flight: 5, 9, 600 and 65535 were never sent; 0 is before the window.
        for block: UInt16 in [5, 9, 600, 65535, 0] {
            #expect(t.handle(T.ack(block), from: T.client, now: T.t0).isEmpty, "ACK \(block)")
        }
        #expect(t.handle(TFTPPacket.data(block: 1, payload: [1, 2]).serialize(), from: T.client, now: T.t0).isEmpty)
        #expect(t.handle([0xde, 0xad], from: T.client, now: T.t0).isEmpty)
        #expect(t.handle([], from: T.client, now: T.t0).isEmpty)
        #expect(t.statistics.ignoredPackets == 9)
        _ = t.handle(T.ack(2), from: T.stranger, now: T.t0)
        _ = t.handle(T.ack(2), from: T.stranger, now: T.t0)
        #expect(t.statistics.strangerPackets == 2)
        // The real ACK still slides the window (3 and 4 again after the gap it reports, then 5 and 6).
        #expect(T.data(t.handle(T.ack(2), from: T.client, now: T.t0)).map(\.block) == [3, 4, 5, 6])
        #expect(t.statistics.bytesAcknowledged == 1024)
        // An abort ends it; afterwards nothing is answered or counted as sent.
        #expect(T.outcome(t.handle(TFTPPacket.error(.diskFull, "full").serialize(), from: T.client, now: T.t0))
            == .abortedByClient(code: 3, message: "full"))
        let sent = t.statistics.packetsSent
        #expect(t.handle(T.ack(6), from: T.client, now: T.t0).isEmpty)
        #expect(t.timeout(now: T.t0.advanced(by: .seconds(60))).isEmpty)
        #expect(t.statistics.packetsSent == sent)
    }
}
