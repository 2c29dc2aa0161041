import Testing
@testable import TFTP

@Suite("TFTP packets")
struct PacketTests {
    @Test("a read request with options parses, names and mode case-insensitively")
    func readRequest() throws {
        let bytes: [UInt8] = [0, 1] + Array("boot/undionly.kpxe\0OCTET\0BlkSize\01468\0tsize\00\0".utf8)
        let packet = try TFTPPacket(parsing: bytes)
        let expected = TFTPRequest(filename: Array("boot/undionly.kpxe".utf8), modeName: "octet",
                                   options: [("blksize", "1468"), ("tsize", "0")])
        #expect(packet == .readRequest(expected))
        #expect(expected.mode == .octet)
        #expect(TFTPPacket.readRequest(expected).serialize() == [0, 1] + Array("boot/undionly.kpxe\0octet\0blksize\01468\0tsize\00\0".utf8))
    }

    @Test("a name carrying NUL bytes keeps them, so the jail can refuse it")
    func nulInName() throws {
        let packet = try TFTPPacket(parsing: [0, 1] + Array("ok\0../../etc/passwd\0octet\0".utf8))
        guard case .readRequest(let r) = packet else { Issue.record("not a read request"); return }
        #expect(r.filename == Array("ok\0../../etc/passwd".utf8))
        #expect(r.mode == .octet)
    }

    @Test("every packet type round-trips")
    func roundTrip() throws {
        let packets: [TFTPPacket] = [
            .writeRequest(TFTPRequest(filename: [0x61], modeName: "netascii")),
            .data(block: 65535, payload: [1, 2, 3]),
            .data(block: 0, payload: []),
            .ack(block: 258),
            .error(code: 1, message: "File not found"),
            .optionAck([("blksize", "1468"), ("windowsize", "8")]),
        ]
        for p in packets { #expect(try TFTPPacket(parsing: p.serialize()) == p) }
        #expect(TFTPPacket.data(block: 258, payload: [9]).serialize() == [0, 3, 1, 2, 9])
    }

    @Test("malformed packets throw")
    func malformed() {
        #expect(throws: TFTPParseError.tooShort) { try TFTPPacket(parsing: [0, 4, 0]) }
        #expect(throws: TFTPParseError.unknownOpcode(9)) { try TFTPPacket(parsing: [0, 9, 0, 0]) }
        #expect(throws: TFTPParseError.unterminatedField) { try TFTPPacket(parsing: [0, 1] + Array("file\0octet".utf8)) }
        #expect(throws: TFTPParseError.missingMode) { try TFTPPacket(parsing: [0, 1] + Array("file\0".utf8)) }
    }
}

@Suite("TFTP option negotiation")
struct NegotiationTests {
    @Test("blksize is clamped to the configured maximum and to the MTU minus 32")
    func blockSize() {
        let asked = [(name: "blksize", value: "65464")]
        #expect(TFTPNegotiation.negotiate(asked, limits: .init(maxBlockSize: 8192), transferSize: 10).blockSize == 8192)
        let mtu = TFTPNegotiation.negotiate(asked, limits: .init(maxBlockSize: 8192, pathMTU: 1500), transferSize: 10)
        #expect(mtu.blockSize == 1468)
        #expect(mtu.acknowledged.map(\.value) == ["1468"])
        let small = TFTPNegotiation.negotiate([("blksize", "1024")], limits: .init(maxBlockSize: 8192, pathMTU: 1500), transferSize: 10)
        #expect(small.blockSize == 1024)
        // Below the RFC 2348 minimum: not an option at all.
        let invalid = TFTPNegotiation.negotiate([("blksize", "7")], limits: .init(), transferSize: 10)
        #expect(invalid == TFTPNegotiatedOptions())
    }

    @Test("tsize is answered with the real size, timeout echoed, windowsize capped, unknown options ignored")
    func others() {
        let n = TFTPNegotiation.negotiate(
            [("tsize", "0"), ("timeout", "3"), ("windowsize", "64"), ("multicast", ""), ("tsize", "5")],
            limits: .init(maxWindowSize: 16), transferSize: 40_810_276)
        #expect(n.acknowledged.map(\.name) == ["tsize", "timeout", "windowsize"])
        #expect(n.acknowledged.map(\.value) == ["40810276", "3", "16"])
        #expect(n.windowSize == 16)
        #expect(n.timeoutSeconds == 3)
        let badTimeout = TFTPNegotiation.negotiate([("timeout", "0"), ("windowsize", "0")], limits: .init(), transferSize: 1)
        #expect(badTimeout.acknowledged.isEmpty)
    }

    @Test("refused options are left out of the OACK")
    func refused() {
        let n = TFTPNegotiation.negotiate([("blksize", "1468"), ("tsize", "0"), ("windowsize", "8")],
                                          limits: .init(refused: [.blksize, .windowsize]), transferSize: 7)
        #expect(n.acknowledged.map(\.name) == ["tsize"])
        #expect(n.blockSize == 512)
        #expect(n.windowSize == 1)
    }

    @Test("a window never holds more than 1 MiB, whatever the order of the options")
    func windowBytes() {
        let n = TFTPNegotiation.negotiate([("windowsize", "256"), ("blksize", "65464")],
                                          limits: .init(maxBlockSize: 65464, maxWindowSize: 256), transferSize: nil)
        #expect(n.blockSize == 65464)
        #expect(n.windowSize == 16)
        #expect(n.acknowledged.map(\.value) == ["16", "65464"])
    }
}
