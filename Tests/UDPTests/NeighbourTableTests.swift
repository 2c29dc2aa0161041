import Testing
import NetworkAddresses
import UDP

@Suite("The kernel's neighbour table")
struct NeighbourTableTests {
    @Test("the neighbour table gives the MAC of a complete entry only")
    func neighbours() {
        let table = """
        IP address       HW type     Flags       HW address            Mask     Device
        10.0.0.7         0x1         0x2         52:54:00:12:34:56     *        eth0
        10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        eth0
        """
        #expect(NeighbourTable.lookup(IPv4Address(10, 0, 0, 7), in: table) == MACAddress("52:54:00:12:34:56"))
        #expect(NeighbourTable.lookup(IPv4Address(10, 0, 0, 8), in: table) == nil)
        #expect(NeighbourTable.lookup(IPv4Address(10, 0, 0, 9), in: table) == nil)
    }
}
