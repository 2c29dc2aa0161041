import Dispatch
import Foundation
import Testing
import UDP

@Suite("UDP socket group")
struct UDPSocketGroupTests {
    final class Received: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [(UInt16, [UInt8])] = []
        func add(_ port: UInt16, _ bytes: [UInt8]) { lock.lock(); items.append((port, bytes)); lock.unlock() }
        var all: [(UInt16, [UInt8])] { lock.lock(); defer { lock.unlock() }; return items }

        func wait(for count: Int) -> [(UInt16, [UInt8])] {
            for _ in 0..<30_000 where all.count < count { usleep(2000) }  // at most 60 s
            return all
        }
    }

    @Test("datagrams to every member arrive through the one source; a removed member is quiet")
    func members() throws {
        let queue = DispatchQueue(label: "group-test")
        let group = try UDPSocketGroup(queue: queue)
        let a = try UDPSocket(UDPSocketOptions(bindAddress: parseIPv4("127.0.0.1")!, port: 0))
        let b = try UDPSocket(UDPSocketOptions(bindAddress: parseIPv4("127.0.0.1")!, port: 0))
        let sender = try UDPSocket(UDPSocketOptions(port: 0))
        defer { a.close(); b.close(); sender.close() }
        let received = Received()
        try queue.sync {
            try group.add(a) { received.add(a.localPort, $0.bytes) }
            try group.add(b) { received.add(b.localPort, $0.bytes) }
        }
        for i in 0..<10 {
            try sender.send([UInt8(i)], to: IPv4Endpoint("127.0.0.1", port: i % 2 == 0 ? a.localPort : b.localPort)!)
        }
        let got = received.wait(for: 10)
        #expect(got.filter { $0.0 == a.localPort }.map(\.1) == [[0], [2], [4], [6], [8]])
        #expect(got.filter { $0.0 == b.localPort }.map(\.1) == [[1], [3], [5], [7], [9]])
        queue.sync { group.remove(a) }
        try sender.send([42], to: IPv4Endpoint("127.0.0.1", port: a.localPort)!)
        try sender.send([43], to: IPv4Endpoint("127.0.0.1", port: b.localPort)!)
        let later = received.wait(for: 11)
        #expect(later.count == 11)
        #expect(later.last.map { [$0.0] + $0.1.map(UInt16.init) } == [b.localPort, 43])
        #expect(queue.sync { group.count } == 1)
    }
}
