import Dispatch
import Foundation
import NetworkAddresses
import Testing
import TestSupport
import TFTP
import UDP
@testable import Daemon

/// The graceful stop's pieces with the clock in the test's hands: the TFTP service's drain
/// returns when the server's last transfer ends (woken by that end, not by polling), and
/// the grace deadline cuts a drain still waiting, then gives the cut services their own
/// deadline. The transfer is a real one on loopback, driven packet by packet.
@Suite("graceful stop: the TFTP drain and the stop deadlines on a test clock", .timeLimit(.minutes(1)))
struct StopDrainTests {
    static let grace = Duration.seconds(15)
    static let cancelGrace = Duration.seconds(5)

    /// A TFTP server on 127.0.0.1 serving a 700-byte file (two blocks of 512), patient
    /// enough that a client holding its ACK is never abandoned during the test, and a client
    /// that has asked for the file and received block 1, not yet acknowledged.
    final class HeldTransfer {
        let server: TFTPServer
        let client: UDPSocket
        var datagrams: AsyncStream<Datagram>.Iterator
        let root: String
        var transferPort: UInt16 = 0

        init() async throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-drain-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try Data((0..<700).map { UInt8($0 & 0xff) }).write(to: URL(fileURLWithPath: root + "/loader"))
            let patient = TFTPRetransmitPolicy(initial: .seconds(30), minimum: .seconds(30), ceiling: .seconds(30),
                                               maxRetries: 100, silenceLimit: .seconds(3600))
            server = TFTPServer(settings: TFTPServerSettings(root: root, retransmit: patient),
                                listen: TFTPListenSettings(device: nil, bindAddress: IPv4Address("127.0.0.1")!, port: 0),
                                queue: DispatchQueue(label: "drain-test-tftp"), neighbours: { _ in nil }) { _ in }
            try server.start()
            client = try UDPSocket(UDPSocketOptions(bindAddress: IPv4Address("127.0.0.1")!, port: 0))
            let (stream, sink) = AsyncStream.makeStream(of: Datagram.self)
            client.startReceiving(on: DispatchQueue(label: "drain-test-client")) { sink.yield($0) }
            datagrams = stream.makeAsyncIterator()
            let request = TFTPPacket.readRequest(TFTPRequest(filename: Array("loader".utf8), modeName: "octet"))
            try client.send(request.serialize(), to: IPv4Endpoint(address: IPv4Address("127.0.0.1")!, port: server.boundPort!))
            let first = try await nextData()
            #expect(first.block == 1 && first.size == 512)
        }

        /// The next DATA packet from the transfer's port.
        func nextData() async throws -> (block: UInt16, size: Int) {
            while let datagram = await datagrams.next() {
                guard case .data(let block, let payload) = try TFTPPacket(parsing: datagram.bytes) else { continue }
                transferPort = datagram.source.port
                return (block, payload.count)
            }
            throw CancellationError()
        }

        func acknowledge(_ block: UInt16) throws {
            try client.send(TFTPPacket.ack(block: block).serialize(), to: IPv4Endpoint(address: IPv4Address("127.0.0.1")!, port: transferPort))
        }

        /// The stop as the daemon runs it: new requests refused, the TFTP service's drain
        /// (returning what is still running when it ends), and the deadlines, whose grace
        /// period cancels the drain.
        func beginStop(clock: TestClock) -> Stop {
            let server = self.server
            server.stopAccepting()
            let drain = Task { await server.transfersEnded(); return server.activeTransfers }
            let cut = Flag(), gaveUp = Flag()
            let deadlines = Task {
                await StopDeadlines(clock: clock, grace: StopDrainTests.grace, cancelGrace: StopDrainTests.cancelGrace)
                    .run(graceOver: { cut.raise(); drain.cancel() }, cancelOver: { gaveUp.raise() })
            }
            return Stop(drain: drain, deadlines: deadlines, cut: cut, gaveUp: gaveUp)
        }

        func remove() {
            client.close()
            server.stop()
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    struct Stop {
        let drain: Task<Int, Never>
        let deadlines: Task<Void, Never>
        /// Raised when the grace period is over, and when the cut services' own deadline is.
        let cut: Flag
        let gaveUp: Flag
    }

    /// Set once, read by the test.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var set = false
        func raise() { lock.lock(); set = true; lock.unlock() }
        var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return set }
    }

    @Test("the drain returns when the last transfer ends, within the grace period, which then never cuts anything")
    func drainEndsWithTheTransfer() async throws {
        let held = try await HeldTransfer()
        defer { held.remove() }
        let clock = TestClock()
        let stop = held.beginStop(clock: clock)
        await clock.sleepers(atLeast: 1)
        clock.advance(by: Self.grace - .milliseconds(1))
        #expect(clock.sleeperCount == 1, "the grace period is not over yet")
        #expect(held.server.activeTransfers == 1)

        // The client takes the rest: block 2 (188 bytes, the last), and acknowledges it.
        try held.acknowledge(1)
        var last = try await held.nextData()
        while last.block != 2 { last = try await held.nextData() }
        #expect(last.size == 700 - 512)
        try held.acknowledge(2)
        #expect(await stop.drain.value == 0, "the drain returned once no transfer was left")

        stop.deadlines.cancel()
        await stop.deadlines.value
        #expect(!stop.cut.isRaised && !stop.gaveUp.isRaised, "a stop that ended in time cuts nothing")
        #expect(clock.sleeperCount == 0)
    }

    @Test("the grace period over cuts a drain still waiting; the cut services get their own deadline")
    func graceCutsTheDrain() async throws {
        let held = try await HeldTransfer()
        defer { held.remove() }
        let server = held.server
        let clock = TestClock()
        let stop = held.beginStop(clock: clock)
        await clock.sleepers(atLeast: 1)
        clock.advance(by: Self.grace)
        #expect(await stop.drain.value == 1, "cut while the transfer was still running")
        #expect(stop.cut.isRaised)

        // Then the services have `cancelGrace` to close before the daemon stops waiting.
        await clock.sleepers(atLeast: 1)
        clock.advance(by: Self.cancelGrace - .milliseconds(1))
        #expect(clock.sleeperCount == 1, "not given up yet")
        #expect(!stop.gaveUp.isRaised)
        clock.advance(by: .milliseconds(1))
        await stop.deadlines.value
        #expect(stop.gaveUp.isRaised)

        // A drain started when no transfer runs returns at once; the held one ends with stop().
        server.stop()
        await server.transfersEnded()
        #expect(server.activeTransfers == 0)
    }
}
