// What the daemon remembers per machine (keyed by MAC, or by the address a MAC was seen
// at) is asked for by anything on the bench LAN: a request with a made-up MAC costs one
// entry. So every such table is capped: past its capacity the entry written longest ago
// goes, and the evictions are counted (a workshop sees a few hundred PCs a day; a table
// that evicts is being flooded).

/// A dictionary with a capacity; setting a value counts as its use (the order of eviction).
/// Not thread-safe: its owner's lock guards it, as it did the dictionary it replaces.
public struct MachineTable<Value> {
    public static var defaultCapacity: Int { 4096 }

    public let capacity: Int
    /// Entries dropped to make room since the table was made.
    public private(set) var evictions = 0
    private var entries: [String: (value: Value, stamp: UInt64)] = [:]
    /// Keys in the order they were set, oldest first; a key set again is appended again and
    /// its older place skipped (its stamp no longer matches). Compacted as it grows.
    private var order: [(key: String, stamp: UInt64)] = []
    private var head = 0
    private var clock: UInt64 = 0

    public init(capacity: Int = Self.defaultCapacity) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public var count: Int { entries.count }
    public var keys: [String] { Array(entries.keys) }

    public subscript(key: String) -> Value? {
        get { entries[key]?.value }
        set {
            guard let newValue else {
                entries[key] = nil
                return
            }
            clock += 1
            entries[key] = (newValue, clock)
            order.append((key, clock))
            evictIfFull()
            compactIfSparse()
        }
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> Value? {
        entries.removeValue(forKey: key)?.value
    }

    public mutating func removeAll() {
        entries = [:]
        order = []
        head = 0
    }

    private mutating func evictIfFull() {
        while entries.count > capacity, head < order.count {
            let (key, stamp) = order[head]
            head += 1
            if entries[key]?.stamp == stamp {
                entries[key] = nil
                evictions += 1
            }
        }
    }

    /// Drops the skipped places once they outnumber the live ones, so `order` stays within
    /// a small multiple of the capacity however often keys are set again.
    private mutating func compactIfSparse() {
        guard order.count > 2 * capacity + 64 else { return }
        order = order[head...].filter { entries[$0.key]?.stamp == $0.stamp }
        head = 0
    }
}

extension MachineTable: Sendable where Value: Sendable {}
