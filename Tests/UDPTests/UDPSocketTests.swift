import Dispatch
import NetworkAddresses
import Testing
import UDP

@Suite("UDP sockets")
struct UDPSocketTests {
    @Test("a datagram on loopback arrives with IP_PKTINFO's interface and destination")
    func loopbackPacketInfo() async throws {
        let server = try UDPSocket(UDPSocketOptions(port: 0, reuseAddress: true, packetInfo: true))
        defer { server.close() }
        let client = try UDPSocket(UDPSocketOptions(port: 0))
        defer { client.close() }
        let received = AsyncStream<Datagram>.makeStream()
        server.startReceiving(on: DispatchQueue(label: "test")) { received.continuation.yield($0) }
        try client.send([1, 2, 3], to: IPv4Endpoint("127.0.0.1", port: server.localPort)!)
        var iterator = received.stream.makeAsyncIterator()
        let datagram = try #require(await iterator.next())
        #expect(datagram.bytes == [1, 2, 3])
        #expect(datagram.source.port == client.localPort)
        #expect(datagram.destinationAddress == IPv4Address("127.0.0.1"))
        let lo = try #require(NetworkInterface.named("lo"))
        #expect(datagram.interfaceIndex == lo.index)
        #expect(datagram.truncated == false)
    }

    @Test("a datagram larger than the buffer is flagged truncated")
    func truncation() throws {
        let server = try UDPSocket(UDPSocketOptions(port: 0))
        defer { server.close() }
        let client = try UDPSocket(UDPSocketOptions(port: 0))
        defer { client.close() }
        try client.send([UInt8](repeating: 7, count: 2000), to: IPv4Endpoint("127.0.0.1", port: server.localPort)!)
        var got: Datagram?
        for _ in 0..<1000 where got == nil { got = server.receiveNow(bufferSize: 1000) }
        #expect(got?.truncated == true)
        #expect(got?.bytes.count == 1000)
    }

    @Test("binding a port that is taken fails with a message naming it")
    func bindConflict() throws {
        let first = try UDPSocket(UDPSocketOptions(port: 0))
        defer { first.close() }
        #expect {
            try UDPSocket(UDPSocketOptions(port: first.localPort))
        } throws: { error in
            "\(error)".contains("bind 0.0.0.0:\(first.localPort)") && "\(error)".contains("in use")
        }
    }

    @Test("interface discovery finds loopback with its MTU and address")
    func interfaces() throws {
        let lo = try #require(NetworkInterface.named("lo"))
        #expect(lo.isLoopback)
        #expect(lo.address == IPv4Address("127.0.0.1"))
        #expect((lo.mtu ?? 0) > 1000)
    }
}
