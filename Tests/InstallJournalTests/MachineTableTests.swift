import InstallJournal
import Testing
import TestSupport

/// The cap every per-machine table has (issue 16): past its capacity the entry set longest
/// ago goes, counted; setting an entry again makes it the newest.
@Suite("MachineTable")
struct MachineTableTests {
    @Test("the oldest entry goes first, a renewed one stays; evictions are counted")
    func evictsOldest() {
        var table = MachineTable<Int>(capacity: 3)
        table["a"] = 1
        table["b"] = 2
        table["c"] = 3
        table["a"] = 10
        table["d"] = 4
        #expect(table.count == 3)
        #expect(table["b"] == nil)
        #expect(table["a"] == 10 && table["c"] == 3 && table["d"] == 4)
        #expect(table.evictions == 1)
        table["c"] = nil
        table["e"] = 5
        #expect(table.evictions == 1, "a removed entry made room")
        #expect(table.removeValue(forKey: "e") == 5)
    }

    @Test("100 000 random keys keep the table at its capacity, the rest evicted")
    func randomKeys() {
        var table = MachineTable<String>(capacity: 4096)
        var rng = SplitMix64(seed: 16)
        for _ in 0..<100_000 {
            table[String(rng.next(), radix: 16)] = "x"
        }
        #expect(table.count == 4096)
        #expect(table.evictions == 100_000 - 4096)
        // The same few keys set over and over never evict each other.
        var small = MachineTable<Int>(capacity: 8)
        for round in 0..<50_000 { small["k\(round % 8)"] = round }
        #expect(small.count == 8 && small.evictions == 0)
    }
}
