// A token bucket per sender address: each sender may send `burst` datagrams at once and
// `perSecond` a second after that; what goes over is dropped (and counted by the caller).
// Pure: the clock is passed in. Bounded: past `maxSources` senders the table starts over
// (every sender gets a full bucket again), which costs at most one more burst each.

import NetworkAddresses

public struct SourceRateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double
    public let maxSources: Int
    private var buckets: [IPv4Address: (tokens: Double, at: Double)] = [:]

    public init(perSecond: Double, burst: Double, maxSources: Int = 4096) {
        self.perSecond = perSecond
        self.burst = burst
        self.maxSources = max(1, maxSources)
    }

    /// Whether one more datagram from `source` may pass at time `now` (seconds, any origin,
    /// never going back; a clock that does is treated as standing still).
    public mutating func admit(_ source: IPv4Address, now: Double) -> Bool {
        var bucket = buckets[source] ?? (tokens: burst, at: now)
        bucket.tokens = min(burst, bucket.tokens + max(0, now - bucket.at) * perSecond)
        bucket.at = max(bucket.at, now)
        let admitted = bucket.tokens >= 1
        if admitted { bucket.tokens -= 1 }
        if buckets[source] == nil, buckets.count >= maxSources { buckets.removeAll(keepingCapacity: true) }
        buckets[source] = bucket
        return admitted
    }

    public var sourceCount: Int { buckets.count }
}
