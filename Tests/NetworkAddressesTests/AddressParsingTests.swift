import Testing
import NetworkAddresses

@Suite("MAC and IPv4 addresses: one parser each")
struct AddressParsingTests {
    @Test("a MAC is read in the three forms admins and firmware write, any case")
    func macForms() throws {
        let mac = try #require(MACAddress("52:54:00:AA:bb:cc"))
        #expect(MACAddress("52-54-00-aa-BB-cc") == mac)
        #expect(MACAddress("525400aabbcc") == mac)
        #expect(MACAddress(bytes: [0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc]) == mac)
        #expect(mac.description == "52:54:00:aa:bb:cc")
        #expect(mac.hyphenated == "52-54-00-aa-bb-cc")
        #expect(mac.hex == "525400aabbcc")
        #expect(mac.oui == [0x52, 0x54, 0x00])
    }

    @Test("anything that is not six octets with one kind of separator between every pair is refused",
          arguments: ["", "52:54:00:aa:bb", "52:54:00:aa:bb:cc:dd", "52:54-00:aa:bb:cc", "5254:00:aa:bb:cc:",
                      "52.54.00.aa.bb.cc", "52:54:00:aa:bb:cg", "５２:54:00:aa:bb:cc", "５２５４００ａａｂｂｃｃ",
                      "+2:54:00:aa:bb:cc", "525400aabbc ", "52:54:00:aa:bb:c\n"])
    func macRefused(text: String) {
        #expect(MACAddress(text) == nil)
    }

    @Test("MAC prefixes: one to five octets, two digits each")
    func prefixes() throws {
        #expect(MACAddress.prefix("00:e0:4c") == [0x00, 0xe0, 0x4c])
        #expect(MACAddress.prefix("00-E0") == [0x00, 0xe0])
        #expect(MACAddress.prefix("00:e0:4c", octets: 3...3) != nil)
        #expect(MACAddress.prefix("00:e0", octets: 3...3) == nil)
        #expect(MACAddress.prefix("0:e0:4c") == nil)
        #expect(MACAddress.prefix("00:e0:4c:00:00:00") == nil)
        #expect(MACAddress.prefix("+0:e0:4c") == nil)
        let mac = try #require(MACAddress("00:e0:4c:12:34:56"))
        #expect(mac.hasPrefix([0x00, 0xe0, 0x4c]))
        #expect(!mac.hasPrefix([0x00, 0xe0, 0x4d]))
    }

    @Test("IPv4: dotted quads only, and the host-order value both ways")
    func ipv4() throws {
        let address = try #require(IPv4Address("10.0.0.7"))
        #expect(address == IPv4Address(10, 0, 0, 7))
        #expect(address.hostOrder == 0x0a00_0007)
        #expect(IPv4Address(hostOrder: 0x0a00_0007) == address)
        #expect(address.description == "10.0.0.7")
        for bad in ["10.0.0.256", "10.0.0", "10.1", "10.0.0.7.", "+10.0.0.7", "10.0.0.0007", "10.0.0.７", " 10.0.0.7", "a.b.c.d"] {
            #expect(IPv4Address(bad) == nil, "\(bad)")
        }
    }

    @Test("durations in milliseconds: whole for journal fields, one decimal for log lines")
    func milliseconds() {
        #expect(Duration.milliseconds(1234).wholeMilliseconds == 1234)
        #expect((Duration.seconds(2) + .microseconds(999)).wholeMilliseconds == 2000)
        #expect(Duration.microseconds(12_345).millisecondsText == "12.3")
        #expect(Duration.microseconds(12_355).millisecondsText == "12.4")
        #expect(Duration.milliseconds(3).wholeNanoseconds == 3_000_000)
    }
}
