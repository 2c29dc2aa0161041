// Many sockets behind one DispatchSource. A read source per socket costs libdispatch's
// single event thread several system calls and two thread hand-offs per datagram, which
// caps a server with many busy sockets (one per TFTP transfer) well below what the CPU
// could send. Here the sockets sit in an epoll set of their own, and that set's
// descriptor is the one read source: each wake-up drains every socket that is ready.

#if canImport(Glibc)
import Glibc
#endif
import CEpoll
import Dispatch

public final class UDPSocketGroup: @unchecked Sendable {
    public let queue: DispatchQueue
    // `members` and `events` are touched only on `queue`.
    private let epollFD: Int32
    private let source: DispatchSourceRead
    private var members: [Int32: (socket: UDPSocket, handler: (Datagram) -> Void)] = [:]
    private var events = [epoll_event](repeating: epoll_event(), count: 64)

    public init(queue: DispatchQueue) throws(UDPError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw UDPError("epoll_create1") }
        epollFD = fd
        self.queue = queue
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [unowned self] in drain() }
        source.setCancelHandler { Glibc.close(fd) }
        source.resume()
    }

    deinit { source.cancel() }

    /// Delivers `socket`'s datagrams to `handler` on `queue`. Call on `queue`.
    public func add(_ socket: UDPSocket, handler: @escaping (Datagram) -> Void) throws(UDPError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = socket.fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, socket.fd, &event) == 0 else { throw UDPError("epoll_ctl") }
        members[socket.fd] = (socket, handler)
    }

    /// Stops delivering `socket`'s datagrams; the caller still owns and closes it. Call on `queue`.
    public func remove(_ socket: UDPSocket) {
        guard members.removeValue(forKey: socket.fd) != nil else { return }
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, socket.fd, &event)
    }

    public var count: Int { members.count }

    /// One datagram from each ready socket: a TFTP transfer has one ACK in flight, so a
    /// second read would mostly cost an empty recvmsg (the set is level-triggered, so
    /// whatever is left is reported again).
    ///
    /// While traffic keeps coming the handler stays a little (`linger`): it waits in
    /// epoll_wait for the next datagram instead of returning to libdispatch, whose source
    /// re-arm hands every event through its event thread and back (two thread switches
    /// per packet, which halves a lockstep transfer's rate). The thread sleeps in the
    /// kernel while it waits; after `linger` of silence, or `budget` of work, it returns so
    /// timers and other work on the queue run.
    private func drain(linger: Int32 = 1, budget: UInt64 = 2_000_000) {
        let start = DispatchTime.now().uptimeNanoseconds
        var timeout: Int32 = 0
        while true {
            let ready = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32($0.count), timeout) }
            guard ready > 0 else { return }
            for i in 0..<Int(ready) {
                // A handler may have removed a socket that is later in this batch.
                guard let member = members[events[i].data.fd], let datagram = member.socket.receiveNow(bufferSize: 2048) else { continue }
                member.handler(datagram)
            }
            if DispatchTime.now().uptimeNanoseconds - start > budget { return }
            timeout = linger
        }
    }
}
