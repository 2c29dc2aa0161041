// The TFTP server: requests arrive on one listening socket (port 69), each accepted read
// becomes a transfer with its own ephemeral socket (its TID), its own retransmit timer
// and a TFTPTransfer state machine. This file is wiring: every protocol decision is made
// by the codec, the negotiation, the jail or the state machine.
//
// Threads: the listener, the session table, the file cache and the settings live on
// `queue`. Transfers are spread over a few UDPEventLoops (a thread each, 8 by default;
// lockstep ones on the first, then over the first two); each transfer's sockets, timer
// and state machine stay on the loop it was given, which reads and answers each datagram
// without a hand-off to another thread.

import Dispatch
import FileJail
import NetworkAddresses
import UDP
#if canImport(Glibc)
import Glibc
#endif

/// Options not offered to some clients (firmware that asks for blksize and then breaks).
public struct TFTPOptionRefusal: Sendable, Equatable {
    public enum Client: Sendable, Equatable {
        case mac(MACAddress)
        /// The first three octets of the MAC.
        case vendor([UInt8])
    }

    public var client: Client
    public var options: Set<TFTPOption>

    public init(client: Client, options: Set<TFTPOption>) {
        self.client = client
        self.options = options
    }

    func matches(_ mac: MACAddress?) -> Bool {
        guard let mac else { return false }
        switch client {
        case .mac(let m): return m == mac
        case .vendor(let prefix): return mac.bytes.starts(with: prefix)
        }
    }
}

/// What a reload may change; applies to transfers that start afterwards.
public struct TFTPServerSettings: Sendable, Equatable {
    public var root: String
    /// Folders outside the root that symlinks inside it may point into.
    public var trustedLinkTargets: [String]
    public var maxTransfers: Int
    /// Concurrent transfers one client address may hold (firmware fetches one file at a
    /// time; EDK2 opens a `tsize` probe, then the download).
    public var maxTransfersPerClient: Int
    public var maxBlockSize: Int
    public var maxWindowSize: Int
    public var retransmit: TFTPRetransmitPolicy
    public var optionRefusals: [TFTPOptionRefusal]

    /// The default of `limits.max_tftp_transfers`, here once.
    public static let defaultMaxTransfers = 64
    /// The default of `limits.max_tftp_transfers_per_client`, here once.
    public static let defaultMaxTransfersPerClient = 4

    public init(root: String, trustedLinkTargets: [String] = [], maxTransfers: Int = defaultMaxTransfers,
                maxTransfersPerClient: Int = defaultMaxTransfersPerClient,
                maxBlockSize: Int = TFTPNegotiationLimits.defaultMaxBlockSize,
                maxWindowSize: Int = TFTPNegotiationLimits.defaultMaxWindowSize, retransmit: TFTPRetransmitPolicy = TFTPRetransmitPolicy(),
                optionRefusals: [TFTPOptionRefusal] = []) {
        self.root = root
        self.trustedLinkTargets = trustedLinkTargets
        self.maxTransfers = maxTransfers
        self.maxTransfersPerClient = maxTransfersPerClient
        self.maxBlockSize = maxBlockSize
        self.maxWindowSize = maxWindowSize
        self.retransmit = retransmit
        self.optionRefusals = optionRefusals
    }
}

/// Where to listen; fixed for the server's life.
public struct TFTPListenSettings: Sendable {
    /// SO_BINDTODEVICE target; nil in tests on loopback.
    public var device: String?
    /// Host order; 0 = every address of the device.
    public var bindAddress: IPv4Address
    public var port: UInt16
    public var receiveBufferBytes: Int32?

    /// The TFTP port (RFC 1350), `tftp.port`'s default.
    public static let defaultPort: UInt16 = 69

    public init(device: String?, bindAddress: IPv4Address = .zero, port: UInt16 = defaultPort, receiveBufferBytes: Int32? = nil) {
        self.device = device
        self.bindAddress = bindAddress
        self.port = port
        self.receiveBufferBytes = receiveBufferBytes
    }
}

/// Who asked for a virtual file, so the daemon can render it for that machine.
public struct TFTPClient: Sendable, Equatable {
    public var endpoint: IPv4Endpoint
    public var mac: MACAddress?
    /// The requested name, relative to the root ("boot.ipxe").
    public var file: String
}

/// One line per request, whatever became of it.
public struct TFTPTransferReport: Sendable, Equatable {
    public var file: String
    public var client: IPv4Endpoint
    public var mac: MACAddress?
    /// Payload bytes the client acknowledged.
    public var bytes: Int
    public var blockSize: Int
    public var windowSize: Int
    public var duration: Duration
    public var retransmissions: Int
    public var outcome: TFTPTransferOutcome
}

/// Counters since start, for the daemon's STATUS line and log and for tests; read with
/// `TFTPServer.statistics`. Hostile or broken clients show up here, never as a crash.
public struct TFTPServerStatistics: Sendable, Equatable {
    /// Datagrams on the listening port.
    public var received = 0
    /// Truncated or unparseable datagrams on the listening port, dropped silently.
    public var malformed = 0
    /// DATA, ACK, OACK or ERROR sent to the listening port: belong to no transfer, dropped.
    public var stray = 0
    /// A client repeating a request whose transfer is already running.
    public var duplicateRequests = 0
    /// Requests answered with an error, by error code name ("access-violation"…);
    /// "server busy" past the transfer cap counts under "busy", past the cap for one
    /// client address under "client-busy".
    public var refused: [String: Int] = [:]
    public var started = 0
    /// Transfers that ended, by outcome ("completed", "aborted", "timed-out", "failed").
    public var finished: [String: Int] = [:]
    /// Summed over finished transfers: packets that changed nothing (ACKs for blocks
    /// never sent, stale ACKs, junk) and packets from strangers to a transfer's port.
    public var ignoredTransferPackets = 0
    public var strangerTransferPackets = 0

    public var refusedTotal: Int { refused.values.reduce(0, +) }

    public init() {}
}

public final class TFTPServer: @unchecked Sendable {
    public typealias VirtualFile = @Sendable (TFTPClient) -> [UInt8]?

    // Everything mutable below is touched only on `queue`.
    private let queue: DispatchQueue
    private let transferLoopCount: Int
    /// The threads that run the transfers: their sockets, timers and state machines.
    private var transferLoops: [UDPEventLoop] = []
    /// Running transfers per loop (same indices), to start each one on the least busy.
    private var transfersPerLoop: [Int] = []
    /// How many of the first loops take lockstep transfers; fixed when the loops start
    /// (sysconf reads /sys for the CPU count: not once per request).
    private var lockstepLoops = 1
    private let listen: TFTPListenSettings
    private var settings: TFTPServerSettings
    private var jail: PathJail?
    private let cache = TFTPFileCache()
    private var virtualFiles: [String: VirtualFile] = [:]
    private var sessions: [IPv4Endpoint: TransferSession] = [:]
    /// Running transfers per client address (the sessions' keys, counted).
    private var sessionsPerAddress: [IPv4Address: Int] = [:]
    private var listener: UDPSocket?
    private var interfaces: [Int32: NetworkInterface] = [:]
    private var stats = TFTPServerStatistics()
    private let onReport: @Sendable (TFTPTransferReport) -> Void
    private let clock: @Sendable () -> TFTPInstant
    /// Tasks waiting in `transfersEnded()`, resumed when the last transfer ends.
    private var idleWaiters: [UInt64: IdleWaiter] = [:]
    private var nextIdleWaiter: UInt64 = 0
    private let neighbours: @Sendable (IPv4Address) -> MACAddress?

    public static let monotonicClock: @Sendable () -> TFTPInstant = {
        TFTPInstant(nanoseconds: DispatchTime.now().uptimeNanoseconds)
    }

    /// Transfer threads by default (`tftp.transfer_threads`): 8. Windowed transfers (RFC
    /// 7440) send a burst per ACK and batch by themselves: they go to the least busy of all
    /// the loops, so 32 of them use every CPU (8 loops: 348 MB/s, more than one CPU can
    /// send), and on a machine doing other work each thread gets its own share of the
    /// scheduler. A read from a cold disk holds its loop's other transfers for that read;
    /// the kernel's readahead keeps that to a file's first reads.
    public static let defaultTransferLoopCount = 8

    /// Lockstep transfers (every PXE firmware's) run on the first two loops
    /// only (fewer when the machine has one CPU or `transfer_threads` is 1). A
    /// lockstep transfer is one ACK in, one DATA out: a loop holding many of them finds
    /// several ACKs ready at each epoll_wait while the bench boots, where a loop per few
    /// transfers sleeps and wakes per packet. Measured with 32 lockstep clients on 2 CPUs,
    /// quiet, the builds side by side in one run (Benchmarks/RESULTS.md, "Per-packet
    /// cost"), as garage-pxe's rate ÷ the best peer's by the C and the Swift generator:
    /// one loop 1.04-1.06× and 0.87-0.97× (a thread per client shares the CPUs with it);
    /// two 1.06-1.10× and 1.08-1.16× at 0.72-0.96× the peer's CPU per GB; four 0.99× and
    /// 1.11× at 1.08× dnsmasq's CPU (more threads than CPUs, each sleeping more).
    /// Machines with more CPUs were not measured, so the spread stops at two.
    static let lockstepLoopCount = 2

    /// The first loop takes every lockstep transfer until it holds this many; only then
    /// do they go to the least busy of the lockstep loops. Over a LAN each next ACK is a
    /// round trip away and a loop sleeps between them, so what a packet costs is mostly the
    /// wake-up: one loop holding a few PCs' transfers often finds two ACKs at a wake-up
    /// (dnsmasq's one loop does the same), where two loops holding two each wake for every
    /// ACK. 4 PCs over a link of 0.1 ms each way: 0.74 → 0.51 context switches and 22.1 →
    /// 17.9 µs of server CPU per block; in run.sh's `tl0` row (6 rounds, side by side),
    /// 1.07× and 1.16× → 1.04× and 1.05× dnsmasq's CPU per GB by the C and the Swift
    /// generator, at the same rate. Past 8, a bench booting many PCs at once needs both
    /// CPUs, and they share the load as before (32 clients: rate and CPU within the rounds'
    /// spread of the old placement's).
    public static let lockstepTransfersOnFirstLoop = 8

    /// How long a transfer thread keeps polling after a busy turn before it sleeps
    /// (UDPEventLoop's `pollBeforeSleeping`). A lockstep client answers each DATA within
    /// microseconds; sleeping between them cost a context switch and a wake-up every one or
    /// two packets: 32 lockstep clients made the loop switch ~870 000 times in 2 × 32
    /// transfers of a 40.8 MB initrd, dnsmasq's one loop ~49 000 (it is slower per packet,
    /// so its ACKs are always waiting). Polling 30 µs first (yielding the CPU between two
    /// polls, so a client sharing it runs): 5.3 → 4.4 s of CPU per GB for 32 clients, 6.8 →
    /// 5.4 for one client on one CPU, same throughput (Benchmarks/RESULTS.md, "Per-packet
    /// cost"). Idle, the threads sleep at once: the polling only follows work. Where the
    /// next ACK is a network round trip away (PCs on a real LAN), the windows run out empty
    /// and the loop backs off (UDP's PollSchedule).
    public static let transferPollBeforeSleeping: Duration = .microseconds(30)

    public init(settings: TFTPServerSettings, listen: TFTPListenSettings, queue: DispatchQueue,
                transferLoopCount: Int? = nil,
                clock: @escaping @Sendable () -> TFTPInstant = TFTPServer.monotonicClock,
                neighbours: @escaping @Sendable (IPv4Address) -> MACAddress? = NeighbourTable.hardwareAddress(of:),
                onReport: @escaping @Sendable (TFTPTransferReport) -> Void) {
        self.settings = settings
        self.listen = listen
        self.queue = queue
        self.transferLoopCount = max(1, transferLoopCount ?? Self.defaultTransferLoopCount)
        self.clock = clock
        self.neighbours = neighbours
        self.onReport = onReport
        jail = PathJail(root: settings.root, trustedLinkTargets: settings.trustedLinkTargets)
    }

    /// Binds and serves at once (tests). The daemon binds, drops its last privileges, then serves.
    public func start() throws(UDPError) {
        try bind()
        serve()
    }

    /// Binds the listener and starts the transfer threads, reading nothing yet: requests
    /// wait in the listener's receive queue until `serve`.
    public func bind() throws(UDPError) {
        let socket = try UDPSocket(UDPSocketOptions(
            bindAddress: listen.bindAddress, port: listen.port, device: listen.device, reuseAddress: true,
            packetInfo: true, receiveBufferBytes: listen.receiveBufferBytes))
        var loops: [UDPEventLoop] = []
        for i in 0..<transferLoopCount {
            do throws(UDPError) {
                loops.append(try UDPEventLoop(label: "tftp-xfer-\(i)", pollBeforeSleeping: Self.transferPollBeforeSleeping))
            } catch {
                loops.forEach { $0.stop() }
                socket.close()
                throw error
            }
        }
        queue.sync {
            listener = socket
            transferLoops = loops
            transfersPerLoop = Array(repeating: 0, count: loops.count)
            lockstepLoops = max(1, min(Self.lockstepLoopCount, loops.count, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        }
    }

    /// Reads the requests the listener receives, those already queued first.
    public func serve() {
        // On the queue, so a stop (which closes the listener there) is wholly before or after.
        queue.sync {
            listener?.startReceiving(on: queue, bufferSize: 2048) { [weak self] datagram in
                self?.handleRequest(datagram)
            }
        }
    }

    /// Closes the listener only: new requests go unanswered while running transfers go on
    /// (a graceful stop waits in `transfersEnded()`).
    public func stopAccepting() {
        queue.sync {
            listener?.close()
            listener = nil
        }
    }

    /// Closes the listener and abandons every transfer; the transfer threads end.
    public func stop() {
        queue.sync {
            listener?.close()
            listener = nil
            for session in sessions.values { session.cancel() }
            sessions = [:]
            sessionsPerAddress = [:]
            resumeIdleWaiters()
            cache.removeAll()
            // After the cancels queued above: each loop closes its sessions, then ends.
            transferLoops.forEach { $0.stop() }
            transferLoops = []
            transfersPerLoop = []
        }
    }

    deinit {
        transferLoops.forEach { $0.stop() }
    }

    public var boundPort: UInt16? { queue.sync { listener?.localPort } }
    public var activeTransfers: Int { queue.sync { sessions.count } }
    /// Running transfers on each transfer thread, in the threads' order.
    public var transfersByThread: [Int] { queue.sync { transfersPerLoop } }

    /// Which loop a new transfer runs on (on `queue`): lockstep ones fill the first loop up
    /// to `lockstepTransfersOnFirstLoop`, then go to the least busy lockstep loop; windowed
    /// ones to the least busy of all.
    private func loopForTransfer(lockstep: Bool) -> Int {
        if lockstep && transfersPerLoop[0] < Self.lockstepTransfersOnFirstLoop { return 0 }
        let candidates = lockstep ? lockstepLoops : transfersPerLoop.count
        return transfersPerLoop.prefix(candidates).indices.min { transfersPerLoop[$0] < transfersPerLoop[$1] }!
    }

    public var statistics: TFTPServerStatistics { queue.sync { stats } }

    /// Returns once no transfer is running: at once if none is, else when the last one
    /// ends (completed, failed, timed out or abandoned by `stop()`), or when the calling
    /// task is cancelled. Woken by the transfer's end itself, not by polling.
    public func transfersEnded() async {
        let id = queue.sync { () -> UInt64 in
            nextIdleWaiter &+= 1
            return nextIdleWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                queue.async {
                    // Cancelled before it got here: the handler left a mark instead of a waiter.
                    let cancelled = self.idleWaiters.removeValue(forKey: id) != nil
                    if cancelled || self.sessions.isEmpty {
                        continuation.resume()
                    } else {
                        self.idleWaiters[id] = .waiting(continuation)
                    }
                }
            }
        } onCancel: {
            queue.async {
                if case .waiting(let continuation) = self.idleWaiters.removeValue(forKey: id) {
                    continuation.resume()
                } else {
                    self.idleWaiters[id] = .cancelled
                }
            }
        }
    }

    /// A task in `transfersEnded()`, or the mark of one cancelled before it was registered.
    private enum IdleWaiter {
        case waiting(CheckedContinuation<Void, Never>)
        case cancelled
    }

    /// On `queue`, when no transfer is left. The marks of cancelled waiters stay for them.
    private func resumeIdleWaiters() {
        for (id, waiter) in idleWaiters {
            guard case .waiting(let continuation) = waiter else { continue }
            idleWaiters[id] = nil
            continuation.resume()
        }
    }

    public func update(_ newSettings: TFTPServerSettings) {
        queue.async {
            if newSettings.root != self.settings.root || newSettings.trustedLinkTargets != self.settings.trustedLinkTargets {
                self.jail = PathJail(root: newSettings.root, trustedLinkTargets: newSettings.trustedLinkTargets)
                self.cache.removeAll()
            }
            self.settings = newSettings
        }
    }

    /// Serves `generate`'s bytes under `name` (e.g. "autoexec.ipxe"), ahead of any file of
    /// that name in the root. `generate` runs on the server's queue, once per request;
    /// nil answers "file not found".
    public func register(virtualFile name: String, _ generate: @escaping VirtualFile) {
        guard case .success(let key) = TFTPName.relativePath(Array(name.utf8)) else { return }
        queue.sync { virtualFiles[key] = generate }
    }

    // MARK: requests (on `queue`)

    private func handleRequest(_ datagram: Datagram) {
        stats.received += 1
        guard !datagram.truncated, let packet = try? TFTPPacket(parsing: datagram.bytes) else {
            stats.malformed += 1
            return
        }
        switch packet {
        case .writeRequest(let request):
            refuse(TFTPRefusal(.accessViolation, "This server is read-only"), file: request.filenameText, datagram)
        case .readRequest(let request):
            startTransfer(request, datagram)
        default:
            // ACKs or DATA for port 69 belong to nobody: stay silent rather than reflect.
            stats.stray += 1
        }
    }

    private func startTransfer(_ request: TFTPRequest, _ datagram: Datagram) {
        // A client repeating its request: the running transfer's timer already answers it.
        if sessions[datagram.source] != nil {
            stats.duplicateRequests += 1
            return
        }
        let label = request.filenameText
        guard let mode = request.mode else {
            return refuse(TFTPRefusal(.illegalOperation, "Unknown mode '\(request.modeName)'"), file: label, datagram)
        }
        guard sessions.count < settings.maxTransfers else {
            return refuse(TFTPRefusal(.notDefined, "Server busy (\(settings.maxTransfers) transfers), try again"), file: label, datagram,
                          counter: "busy")
        }
        guard sessionsPerAddress[datagram.source.address, default: 0] < settings.maxTransfersPerClient else {
            return refuse(TFTPRefusal(.notDefined, "Server busy (\(settings.maxTransfersPerClient) transfers for this client), try again"),
                          file: label, datagram, counter: "client-busy")
        }
        let relative: String
        switch TFTPName.relativePath(request.filename) {
        case .failure(let refusal): return refuse(refusal, file: label, datagram)
        case .success(let path): relative = path
        }
        let mac = neighbours(datagram.source.address)
        let content: any TFTPContent
        if let generate = virtualFiles[relative] {
            guard let bytes = generate(TFTPClient(endpoint: datagram.source, mac: mac, file: relative)) else {
                return refuse(TFTPRefusal(.fileNotFound, "File not found"), file: relative, datagram, mac: mac)
            }
            content = TFTPMemoryContent(bytes)
        } else {
            guard let jail else { return refuse(TFTPRefusal(.fileNotFound, "No TFTP root"), file: relative, datagram, mac: mac) }
            switch cache.open(relative, in: jail) {
            case .failure(let refusal): return refuse(refusal, file: relative, datagram, mac: mac)
            case .success(let file): content = file
            }
        }
        let limits = TFTPNegotiationLimits(
            maxBlockSize: settings.maxBlockSize, maxWindowSize: settings.maxWindowSize,
            pathMTU: datagram.interfaceIndex.flatMap { interface($0)?.mtu },
            refused: settings.optionRefusals.filter { $0.matches(mac) }.reduce(into: []) { $0.formUnion($1.options) })
        var transferSize: Int?
        if request.options.contains(where: { $0.name == TFTPOption.tsize.rawValue }) && !limits.refused.contains(.tsize) {
            transferSize = try? content.transferSize(mode: mode)
        }
        let options = TFTPNegotiation.negotiate(request.options, limits: limits, transferSize: transferSize)
        guard !transferLoops.isEmpty, let sockets = transferSockets(datagram) else {
            return refuse(TFTPRefusal(.notDefined, "Server cannot open a transfer socket"), file: relative, datagram, mac: mac)
        }
        let machine = TFTPTransfer(peer: datagram.source, content: content, mode: mode, options: options,
                                   retransmit: settings.retransmit, now: clock())
        let loopIndex = loopForTransfer(lockstep: options.windowSize == 1)
        transfersPerLoop[loopIndex] += 1
        let session = TransferSession(machine: machine, socket: sockets.peer, strangers: sockets.strangers, loop: transferLoops[loopIndex],
                                      clock: clock) { [weak self] session, outcome in
            guard let self else { return }
            let stats = session.machine.statistics
            onReport(TFTPTransferReport(
                file: relative, client: session.machine.peer, mac: mac, bytes: stats.bytesAcknowledged,
                blockSize: options.blockSize, windowSize: options.windowSize,
                duration: (stats.finishedAt ?? stats.startedAt).duration(since: stats.startedAt),
                retransmissions: stats.retransmissions, outcome: outcome))
            queue.async {
                if self.sessions[session.machine.peer] === session {
                    self.removeSession(at: session.machine.peer)
                    self.transfersPerLoop[loopIndex] -= 1
                }
                self.stats.finished[outcome.counterName, default: 0] += 1
                self.stats.ignoredTransferPackets += stats.ignoredPackets
                self.stats.strangerTransferPackets += stats.strangerPackets
            }
        }
        stats.started += 1
        sessions[datagram.source] = session
        sessionsPerAddress[datagram.source.address, default: 0] += 1
        session.begin()
    }

    /// The transfer's port (its TID), as two sockets: one connected to the client, which
    /// sends without a route lookup per datagram and receives only the client's packets,
    /// and one unconnected on the same port (SO_REUSEPORT) that receives everyone else's,
    /// so a stranger still gets error 5 (RFC 1350) rather than an ICMP port unreachable.
    private func transferSockets(_ datagram: Datagram) -> (peer: UDPSocket, strangers: UDPSocket)? {
        let address = replyAddress(datagram)
        guard let peer = try? UDPSocket(UDPSocketOptions(bindAddress: address, port: 0, device: listen.device)) else { return nil }
        do throws(UDPError) {
            try peer.sharePort()
            let strangers = try UDPSocket(UDPSocketOptions(bindAddress: address, port: peer.localPort, device: listen.device,
                                                           reusePort: true))
            do throws(UDPError) {
                try peer.connect(to: datagram.source)
            } catch {
                strangers.close()
                throw error
            }
            return (peer, strangers)
        } catch {
            peer.close()
            return nil
        }
    }

    private func removeSession(at peer: IPv4Endpoint) {
        sessions[peer] = nil
        let left = sessionsPerAddress[peer.address, default: 1] - 1
        sessionsPerAddress[peer.address] = left > 0 ? left : nil
        if sessions.isEmpty { resumeIdleWaiters() }
    }

    /// Answers with an error from port 69 and reports the refusal.
    /// `counter` names the refusal in the statistics when its error code is too vague ("busy").
    private func refuse(_ refusal: TFTPRefusal, file: String, _ datagram: Datagram, mac: MACAddress? = nil, counter: String? = nil) {
        stats.refused[counter ?? refusal.code.description, default: 0] += 1
        let source = replyAddress(datagram)
        try? listener?.send(TFTPPacket.error(refusal.code, refusal.message).serialize(), to: datagram.source,
                            sourceAddress: source.isZero ? nil : source)
        onReport(TFTPTransferReport(
            file: file, client: datagram.source, mac: mac, bytes: 0, blockSize: 512, windowSize: 1, duration: .zero,
            retransmissions: 0, outcome: .refused(refusal.code, refusal.message)))
    }

    /// The address the request was sent to, so the reply comes from the address the
    /// client expects; for a broadcast request, the address of the interface it came in on.
    private func replyAddress(_ datagram: Datagram) -> IPv4Address {
        guard let destination = datagram.destinationAddress, destination != .broadcast,
              destination.hostOrder >> 28 != 0xe else { return listen.bindAddress }
        if let index = datagram.interfaceIndex, let nic = interface(index), let address = nic.address,
           let mask = nic.netmask, mask != .broadcast, destination.hostOrder == address.hostOrder | ~mask.hostOrder {
            return address
        }
        return destination
    }

    private func interface(_ index: Int32) -> NetworkInterface? {
        if let known = interfaces[index] { return known }
        let found = NetworkInterface.withIndex(index)
        if let found { interfaces[index] = found }
        return found
    }
}

/// One transfer on its sockets and timer. Everything runs on its loop's thread.
final class TransferSession: @unchecked Sendable {
    private(set) var machine: TFTPTransfer
    /// Connected to the client.
    private let socket: UDPSocket
    /// Same port, unconnected: packets from anyone else (answered with error 5).
    private let strangers: UDPSocket
    private let loop: UDPEventLoop
    private var timer: UDPEventLoop.TimerID?
    private var armedFor: TFTPInstant?
    private let clock: @Sendable () -> TFTPInstant
    private let onFinish: @Sendable (TransferSession, TFTPTransferOutcome) -> Void
    private var closed = false

    init(machine: TFTPTransfer, socket: UDPSocket, strangers: UDPSocket, loop: UDPEventLoop,
         clock: @escaping @Sendable () -> TFTPInstant,
         onFinish: @escaping @Sendable (TransferSession, TFTPTransferOutcome) -> Void) {
        self.machine = machine
        self.socket = socket
        self.strangers = strangers
        self.loop = loop
        self.clock = clock
        self.onFinish = onFinish
    }

    func begin() {
        loop.execute { [self] in
            timer = loop.makeTimer { [self] in
                armedFor = nil
                perform(machine.timeout(now: clock()))
            }
            do {
                let receive: (Datagram) -> Void = { [self] datagram in
                    perform(machine.handle(datagram.bytes, from: datagram.source, now: clock()))
                }
                try loop.add(socket, handler: receive)
                try loop.add(strangers, handler: receive)
            } catch {
                perform([.finish(.failed("cannot watch the transfer socket: \(error)"))])
                return
            }
            perform(machine.start(now: clock()))
        }
    }

    func cancel() {
        loop.execute { [self] in close() }
    }

    private func perform(_ actions: [TFTPTransfer.Action]) {
        guard !closed else { return }
        for action in actions {
            switch action {
            case .send(let bytes, let destination):
                // A full socket buffer is a lost packet like any other: the timer resends.
                if destination == machine.peer {
                    try? socket.send(bytes)
                } else {
                    try? strangers.send(bytes, to: destination)
                }
            case .wake(let instant):
                // The timer is moved only earlier; firing early costs one call that re-arms.
                if let timer, armedFor == nil || instant < armedFor! {
                    armedFor = instant
                    loop.schedule(timer, at: instant.nanoseconds)
                }
            case .finish(let outcome):
                close()
                onFinish(self, outcome)
            }
        }
    }

    private func close() {
        guard !closed else { return }
        closed = true
        if let timer { loop.removeTimer(timer) }
        loop.remove(socket)
        loop.remove(strangers)
        socket.close()
        strangers.close()
    }
}
