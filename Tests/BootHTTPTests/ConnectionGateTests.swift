@testable import BootHTTP
import Foundation
import Testing

/// The HTTP connection caps' bookkeeping (issue 16): who is refused, and at the overall cap
/// whose connection makes room. The real daemon under a flood from many addresses is in
/// HTTPBoundsTests.
@Suite("HTTP connection gate")
struct ConnectionGateTests {
    final class Connection: @unchecked Sendable {
        let client: String
        private let lock = NSLock()
        private var wasClosed = false
        init(_ client: String) { self.client = client }
        var id: ObjectIdentifier { ObjectIdentifier(self) }
        var closed: Bool { lock.withLock { wasClosed } }
        func close() { lock.withLock { wasClosed = true } }
    }

    static func admit(_ gate: ConnectionGate, _ connection: Connection) -> ConnectionGate.Admission {
        gate.admit(connection.id, client: connection.client) { connection.close() }
    }

    @Test("per-client cap refuses; at the overall cap a newcomer takes the busiest address's longest-waiting connection, never one being answered")
    func eviction() {
        let gate = ConnectionGate(limits: HTTPConnectionLimits(maxConnections: 6, maxConnectionsPerClient: 3))
        // A flooder on two addresses fills the cap: 3 + 3.
        let flood = (0..<6).map { Connection("10.0.0.\(1 + $0 / 3)") }
        for connection in flood { #expect(Self.admit(gate, connection) == .admitted) }
        #expect(Self.admit(gate, Connection("10.0.0.1")) == .refused, "the per-client cap")
        // 10.0.0.2's first connection is being answered (a download): never taken.
        gate.setWaiting(flood[3].id, false)
        // A PC: its place is taken from an address holding 3, the longest waiting (the first).
        let pc = Connection("10.0.0.9")
        #expect(Self.admit(gate, pc) == .admittedByEviction)
        #expect(flood[0].closed && flood.dropFirst().allSatisfy { !$0.closed })
        #expect(gate.openConnections == 6)
        // Now 10.0.0.2 holds the most (3): its longest waiting one not being answered goes.
        let other = Connection("10.0.0.10")
        #expect(Self.admit(gate, other) == .admittedByEviction)
        #expect(flood[4].closed && !flood[3].closed)
        // The evicted connection closing later gives back nothing twice.
        gate.release(flood[0].id)
        gate.release(flood[4].id)
        #expect(gate.openConnections == 6)
        // An address holding no more than the newcomer's is left alone: 2, 2, 1, 1 against a
        // newcomer from an address that holds 2.
        #expect(Self.admit(gate, Connection("10.0.0.1")) == .refused)
        // Every waiting connection being answered: nothing to take, refused.
        for connection in [flood[1], flood[2], flood[5], pc, other] { gate.setWaiting(connection.id, false) }
        #expect(Self.admit(gate, Connection("10.0.0.11")) == .refused)
        gate.release(pc.id)
        #expect(Self.admit(gate, Connection("10.0.0.11")) == .admitted)
    }
}
