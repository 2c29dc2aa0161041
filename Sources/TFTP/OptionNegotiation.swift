// Option negotiation (RFC 2347 OACK) for blksize (2348), tsize (2349), timeout (2349)
// and windowsize (7440): what the client asked, bounded by what the server allows and by
// the path MTU, minus what this client must not be offered.

/// The options this server understands; anything else a client sends is ignored.
public enum TFTPOption: String, Sendable, CaseIterable, Hashable {
    case blksize, tsize, timeout, windowsize
}

public struct TFTPNegotiationLimits: Sendable, Equatable {
    /// Largest blksize granted (config `limits.tftp_max_blksize`).
    public var maxBlockSize: Int
    /// Largest windowsize granted (config `limits.tftp_max_windowsize`).
    public var maxWindowSize: Int
    /// MTU of the interface the replies leave by; nil when unknown.
    public var pathMTU: Int?
    /// Options not to grant this client (config `tftp.refuse_options`).
    public var refused: Set<TFTPOption>

    /// The defaults of `limits.tftp_max_blksize` and `limits.tftp_max_windowsize`, here once:
    /// 1468 fills one Ethernet frame (MTU 1500 - headerOverhead).
    public static let defaultMaxBlockSize = 1468
    public static let defaultMaxWindowSize = 16

    public init(maxBlockSize: Int = defaultMaxBlockSize, maxWindowSize: Int = defaultMaxWindowSize, pathMTU: Int? = nil, refused: Set<TFTPOption> = []) {
        self.maxBlockSize = maxBlockSize
        self.maxWindowSize = maxWindowSize
        self.pathMTU = pathMTU
        self.refused = refused
    }

    /// IPv4 (20) + UDP (8) + TFTP DATA header (4) = 32: a block of MTU - 32 bytes fills one
    /// frame, so no client ever has to reassemble fragments.
    public static let headerOverhead = 32
    /// A window's blocks are kept for retransmission; this bounds that memory per
    /// transfer whatever the configured maximums, as tftp-hpa's --window-bytes does.
    public static let maxWindowBytes = 1 << 20
}

/// What was agreed for one transfer.
public struct TFTPNegotiatedOptions: Sendable, Equatable {
    public var blockSize = 512
    public var windowSize = 1
    /// The client's `timeout` in seconds, when granted.
    public var timeoutSeconds: Int?
    /// The options to send back in an OACK, in the client's order; empty means no OACK:
    /// the transfer starts with DATA block 1 as in plain RFC 1350.
    public var acknowledged: [(name: String, value: String)] = []

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.blockSize == b.blockSize && a.windowSize == b.windowSize && a.timeoutSeconds == b.timeoutSeconds
            && a.acknowledged.map(\.name) == b.acknowledged.map(\.name) && a.acknowledged.map(\.value) == b.acknowledged.map(\.value)
    }
}

public enum TFTPNegotiation {
    /// `transferSize` is the number of bytes the client will receive (after netascii
    /// translation); nil when it cannot be told, and tsize is then not acknowledged.
    public static func negotiate(_ requested: [(name: String, value: String)], limits: TFTPNegotiationLimits,
                                 transferSize: Int?) -> TFTPNegotiatedOptions {
        var result = TFTPNegotiatedOptions()
        var seen: Set<TFTPOption> = []
        var blockLimit = min(limits.maxBlockSize, 65464)
        if let mtu = limits.pathMTU { blockLimit = min(blockLimit, mtu - TFTPNegotiationLimits.headerOverhead) }
        blockLimit = max(blockLimit, 8)
        for (name, value) in requested {
            guard let option = TFTPOption(rawValue: name), !limits.refused.contains(option),
                  seen.insert(option).inserted else { continue }
            switch option {
            case .blksize:
                guard let asked = Int(value), asked >= 8 else { continue }
                result.blockSize = min(asked, blockLimit)
                result.acknowledged.append((name, String(result.blockSize)))
            case .tsize:
                // A client sends 0 (or anything) on a read request; the answer is the real size.
                guard let transferSize else { continue }
                result.acknowledged.append((name, String(transferSize)))
            case .timeout:
                guard let seconds = Int(value), (1...255).contains(seconds) else { continue }
                result.timeoutSeconds = seconds
                result.acknowledged.append((name, value))
            case .windowsize:
                guard let asked = Int(value), (1...65535).contains(asked) else { continue }
                result.windowSize = min(asked, max(1, limits.maxWindowSize))
                result.acknowledged.append((name, String(result.windowSize)))
            }
        }
        // Clamp the window after the loop: blksize may come after windowsize in the request.
        let windowCap = max(1, TFTPNegotiationLimits.maxWindowBytes / result.blockSize)
        if result.windowSize > windowCap {
            result.windowSize = windowCap
            if let i = result.acknowledged.firstIndex(where: { $0.name == TFTPOption.windowsize.rawValue }) {
                result.acknowledged[i].value = String(windowCap)
            }
        }
        return result
    }
}
