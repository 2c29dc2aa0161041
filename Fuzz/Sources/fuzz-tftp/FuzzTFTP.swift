// One input = one conversation with the server's pure parts: the first record is the
// request (codec, name jail, option negotiation), the rest are datagrams from the client
// or from a stranger, and timer ticks, fed to one transfer's state machine. The
// properties: names that pass the jail stay inside, agreed options stay in bounds, every
// DATA block carries the right bytes, a stranger only ever gets error 5, and a finished
// transfer does nothing more.
import NetworkAddresses
import TFTP
import UDP

private let peer = IPv4Endpoint(address: IPv4Address(hostOrder: 0x7f00_0001), port: 40_000)
private let stranger = IPv4Endpoint(address: IPv4Address(hostOrder: 0x7f00_0001), port: 40_001)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTFTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = Array(UnsafeBufferPointer(start: data, count: size))[...]
    guard input.count >= 3 else { return 0 }
    let content = pattern(Int(input.removeFirst()) * 29 % 6000)
    let knobs = input.removeFirst()
    let limits = TFTPNegotiationLimits(
        maxBlockSize: [512, 1468, 8192, 65464][Int(knobs & 3)], maxWindowSize: [1, 4, 16, 64][Int(knobs >> 2 & 3)],
        pathMTU: knobs & 0x10 != 0 ? 1500 : nil, refused: knobs & 0x20 != 0 ? [.blksize] : [])

    // Records: one length byte, then that many bytes (the first is the request).
    func record() -> [UInt8]? {
        guard let length = input.popFirst() else { return nil }
        let body = Array(input.prefix(Int(length)))
        input = input.dropFirst(Int(length))
        return body
    }
    guard let first = record(), case .readRequest(let request)? = try? TFTPPacket(parsing: first) else { return 0 }
    if case .success(let name) = TFTPName.relativePath(request.filename) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        precondition(!name.hasPrefix("/") && !parts.contains("..") && !parts.contains(".") && !parts.contains(""),
                     "jail let through \(name.debugDescription)")
        precondition(!name.utf8.contains(0) && !name.contains("\\"), "jail let through a NUL or a backslash")
    }
    guard let mode = request.mode else { return 0 }
    let options = TFTPNegotiation.negotiate(request.options, limits: limits, transferSize: content.count)
    precondition((8...65464).contains(options.blockSize), "blksize \(options.blockSize)")
    precondition(options.windowSize >= 1 && (options.windowSize == 1 || options.windowSize * options.blockSize <= TFTPNegotiationLimits.maxWindowBytes),
                 "windowsize \(options.windowSize) x blksize \(options.blockSize)")

    var now = TFTPInstant(nanoseconds: 1_000_000_000)
    var transfer = TFTPTransfer(peer: peer, content: TFTPMemoryContent(content), mode: mode, options: options,
                                retransmit: TFTPRetransmitPolicy(), now: now)
    check(transfer.start(now: now), transfer: transfer, content: content, mode: mode)
    while let body = record() {
        // The record's first byte: bit 0 a stranger sends it, bit 1 a timer tick first,
        // the rest milliseconds that pass.
        guard let control = body.first else { continue }
        now = now.advanced(by: .milliseconds(Int(control >> 2) * 20))
        let wasFinished = transfer.isFinished
        if control & 2 != 0 {
            let actions = transfer.timeout(now: now)
            precondition(!wasFinished || actions.isEmpty, "a finished transfer acted on a timeout")
            check(actions, transfer: transfer, content: content, mode: mode)
        }
        let actions = transfer.handle(Array(body.dropFirst()), from: control & 1 != 0 ? stranger : peer, now: now)
        precondition(!wasFinished || actions.isEmpty, "a finished transfer answered a packet")
        check(actions, transfer: transfer, content: content, mode: mode)
    }
    // netascii can at most double the bytes (every LF becomes CR LF).
    precondition(transfer.statistics.bytesAcknowledged <= content.count * (mode == .octet ? 1 : 2), "acknowledged more than was sent")
    return 0
}

private func check(_ actions: [TFTPTransfer.Action], transfer: TFTPTransfer, content: [UInt8], mode: TFTPMode) {
    for case .send(let bytes, let destination) in actions {
        let packet = try? TFTPPacket(parsing: bytes)
        precondition(packet != nil, "sent a packet that does not parse")
        if destination != peer {
            guard case .error(5, _)? = packet else { preconditionFailure("a stranger got \(String(describing: packet))") }
            continue
        }
        guard case .data(let block, let payload)? = packet, mode == .octet else { continue }
        precondition(payload.count <= transfer.options.blockSize, "DATA larger than blksize")
        // Small contents never wrap the 16-bit block number.
        let offset = (Int(block) - 1) * transfer.options.blockSize
        precondition(block >= 1 && offset <= content.count, "DATA block \(block) past the end")
        precondition(Array(content[offset..<min(content.count, offset + transfer.options.blockSize)]) == payload,
                     "DATA block \(block) carries the wrong bytes")
    }
}

private func pattern(_ count: Int) -> [UInt8] {
    var state: UInt32 = 0x2545_f491
    return (0..<count).map { _ in
        state = state &* 1_664_525 &+ 1_013_904_223
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}
