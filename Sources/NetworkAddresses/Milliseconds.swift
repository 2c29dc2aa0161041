// Duration to milliseconds, done one way: journal fields, log lines and timers all
// agree on the number a transfer took.

extension Duration {
    /// Whole milliseconds, rounded toward zero.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds, rounded toward zero (what NIO's and Dispatch's timers take).
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Milliseconds with one decimal, for log lines ("12.3").
    public var millisecondsText: String {
        let tenths = (Double(components.seconds) * 10_000 + Double(components.attoseconds) / 1e14).rounded()
        return "\(tenths / 10)"
    }
}
