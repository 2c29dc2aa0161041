import DHCP
import NetworkAddresses
import Testing
import TestSupport

/// Malformed datagrams must come back as a typed error (the daemon counts them), never a
/// crash, whatever the bytes.
@Suite("DHCP bad input")
struct BadInputTests {
    let valid = TestPackets.pxeRequest().serialize()

    @Test("truncated headers", arguments: [0, 1, 100, 235, 239])
    func truncated(length: Int) {
        #expect(throws: DHCPParseError.truncatedHeader(length: length)) {
            try DHCPPacket(parsing: Array(valid.prefix(length)))
        }
    }

    @Test("missing magic cookie")
    func cookie() {
        var b = valid
        b[236] = 0
        #expect(throws: DHCPParseError.missingMagicCookie) { try DHCPPacket(parsing: b) }
    }

    @Test("an option length past the end")
    func overrun() {
        var b = Array(valid.prefix(240))
        b += [53, 1, 1, 60, 40] + Array("PXEClient".utf8)
        #expect(throws: DHCPParseError.optionOverrun(area: .options, code: 60, offset: 3)) { try DHCPPacket(parsing: b) }
        let lone = Array(valid.prefix(240)) + [60]
        #expect(throws: DHCPParseError.optionOverrun(area: .options, code: 60, offset: 0)) { try DHCPPacket(parsing: lone) }
    }

    @Test("an overloaded file field without end, or with an overrun, or a bad overload value")
    func badOverload() {
        var p = TestPackets.pxeRequest(extra: [DHCPOption(.overload, [1])])
        p.file = [UInt8](repeating: 0, count: 128)
        #expect(throws: DHCPParseError.missingEnd(area: .file)) { try DHCPPacket(parsing: p.serialize()) }
        p.file = [67, 200] + [UInt8](repeating: 0x41, count: 126)
        #expect(throws: DHCPParseError.optionOverrun(area: .file, code: 67, offset: 0)) { try DHCPPacket(parsing: p.serialize()) }
        let bad = TestPackets.pxeRequest(extra: [DHCPOption(.overload, [7])])
        #expect(throws: DHCPParseError.badOverloadValue(7)) { try DHCPPacket(parsing: bad.serialize()) }
    }

    @Test("zero-length and duplicated options parse; duplicates concatenate")
    func zeroLengthAndDuplicates() throws {
        let p = TestPackets.pxeRequest(vendorClass: "PXECl", extra: [
            DHCPOption(.vendorClassIdentifier, Array("ient".utf8)), DHCPOption(.userClass, []), DHCPOption(.clientSystemArchitecture, []),
        ])
        let parsed = try DHCPPacket(parsing: p.serialize())
        #expect(parsed.vendorClassIdentifier == "PXEClient")
        #expect(parsed.userClasses == [])
        // 93 given twice (2 bytes + 0 bytes) concatenates to the first.
        #expect(parsed.clientArchitectures == [0])
    }

    @Test("oversize datagrams")
    func oversize() {
        let b = valid + [UInt8](repeating: 0, count: DHCPPacket.maximumLength)
        #expect(throws: DHCPParseError.oversize(length: b.count)) { try DHCPPacket(parsing: b) }
    }

    @Test("20 000 random mutations of a valid packet never crash the parser or the policy")
    func mutations() {
        var rng = SplitMix64(seed: 0x6761_7261_6765)
        let policy = ProxyPolicy(settings: ProxySettings(serverAddress: IPv4Address(10, 0, 0, 2), httpBaseURL: "http://10.0.0.2"))
        var parsed = 0
        for _ in 0..<20_000 {
            var b = valid
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let i = Int(rng.next() % UInt64(b.count))
                b[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 4 == 0 { b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1)))) }
            if let p = try? DHCPPacket(parsing: b) {
                parsed += 1
                _ = policy.decide(p, port: .dhcp)
                _ = policy.decide(p, port: .pxe)
                _ = p.serialize()
            }
        }
        // Most single-byte mutations still parse; the point is that none crashed.
        #expect(parsed > 200)
    }
}
