// Non-blocking UDP sockets over Glibc, read through a DispatchSource. The proxyDHCP and
// TFTP servers sit on this; it knows nothing of their protocols.

#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import NetworkAddresses

/// An IPv4 address and port.
public struct IPv4Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(address: IPv4Address, port: UInt16) { self.address = address; self.port = port }

    public init?(_ text: String, port: UInt16) {
        guard let a = IPv4Address(text) else { return nil }
        self.init(address: a, port: port)
    }

    public var description: String { "\(address):\(port)" }

    var sockaddr: sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr = in_addr(s_addr: address.hostOrder.bigEndian)
        return sa
    }

    init(_ sa: sockaddr_in) {
        self.init(address: IPv4Address(hostOrder: UInt32(bigEndian: sa.sin_addr.s_addr)), port: UInt16(bigEndian: sa.sin_port))
    }
}

/// One received datagram with what IP_PKTINFO told us about where it arrived.
public struct Datagram: Sendable {
    public var bytes: [UInt8]
    public var source: IPv4Endpoint
    /// Header destination address (e.g. 255.255.255.255 for a broadcast DISCOVER).
    public var destinationAddress: IPv4Address?
    /// Index of the interface it came in on.
    public var interfaceIndex: Int32?
    /// The datagram was larger than the receive buffer and was cut.
    public var truncated: Bool
}

public struct UDPError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32
    public var detail: String

    init(_ operation: String, _ detail: String = "") {
        self.operation = operation
        self.errno = Glibc.errno
        self.detail = detail
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return detail.isEmpty ? "\(operation): \(reason)" : "\(operation) \(detail): \(reason)"
    }
}

public struct UDPSocketOptions: Sendable {
    /// Bind address; 0.0.0.0 = all addresses (needed to hear broadcasts).
    public var bindAddress: IPv4Address = .zero
    public var port: UInt16 = 0
    /// SO_BINDTODEVICE: only traffic of this interface, so a multi-homed server answers
    /// on the bench LAN alone.
    public var device: String?
    public var broadcast = false
    public var reuseAddress = false
    /// SO_REUSEPORT: join another socket of this process on the same port (see
    /// `sharePort`); the kernel then gives a datagram to the connected one whose peer sent
    /// it, and the rest to the unconnected one.
    public var reusePort = false
    /// IP_PKTINFO: learn the ingress interface to reply out of the same one.
    public var packetInfo = false
    public var receiveBufferBytes: Int32?

    public init(bindAddress: IPv4Address = .zero, port: UInt16 = 0, device: String? = nil, broadcast: Bool = false,
                reuseAddress: Bool = false, reusePort: Bool = false, packetInfo: Bool = false,
                receiveBufferBytes: Int32? = nil) {
        self.bindAddress = bindAddress
        self.reusePort = reusePort
        self.port = port
        self.device = device
        self.broadcast = broadcast
        self.reuseAddress = reuseAddress
        self.packetInfo = packetInfo
        self.receiveBufferBytes = receiveBufferBytes
    }
}

public final class UDPSocket: @unchecked Sendable {
    // The descriptor is immutable after init; the read source is created once in
    // startReceiving and only cancelled afterwards, on the owner's queue.
    public let fd: Int32
    private var readSource: DispatchSourceRead?
    private let lock = DispatchQueue(label: "garage-pxe.udp.socket-state")

    public init(_ options: UDPSocketOptions) throws(UDPError) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UDPError("socket") }
        self.fd = fd
        do throws(UDPError) {
            var one: Int32 = 1
            if options.reuseAddress { try Self.setOption(fd, SOL_SOCKET, SO_REUSEADDR, &one, "SO_REUSEADDR") }
            if options.reusePort { try Self.setOption(fd, SOL_SOCKET, SO_REUSEPORT, &one, "SO_REUSEPORT") }
            if options.broadcast { try Self.setOption(fd, SOL_SOCKET, SO_BROADCAST, &one, "SO_BROADCAST") }
            if options.packetInfo { try Self.setOption(fd, Int32(IPPROTO_IP), IP_PKTINFO, &one, "IP_PKTINFO") }
            if var size = options.receiveBufferBytes { try Self.setOption(fd, SOL_SOCKET, SO_RCVBUF, &size, "SO_RCVBUF") }
            if let device = options.device {
                let ok = device.withCString { name in
                    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, socklen_t(strlen(name) + 1)) == 0
                }
                guard ok else { throw UDPError("SO_BINDTODEVICE", device) }
            }
            var sa = IPv4Endpoint(address: options.bindAddress, port: options.port).sockaddr
            let bound = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                throw UDPError("bind", IPv4Endpoint(address: options.bindAddress, port: options.port).description)
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: inout Int32, _ label: String) throws(UDPError) {
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else { throw UDPError("setsockopt", label) }
    }

    /// Lets a socket bound later with `reusePort` share this one's port. Set after binding
    /// port 0, so the kernel still picks a port no other socket uses.
    public func sharePort() throws(UDPError) {
        var one: Int32 = 1
        try Self.setOption(fd, SOL_SOCKET, SO_REUSEPORT, &one, "SO_REUSEPORT")
    }

    /// Fixes the peer: `send(_:)` needs no address and no route lookup per datagram (the
    /// route is cached on the socket), and the kernel delivers only the peer's datagrams.
    public func connect(to peer: IPv4Endpoint) throws(UDPError) {
        var sa = peer.sockaddr
        let connected = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw UDPError("connect", peer.description) }
    }

    /// Sends one datagram to the peer of a connected socket.
    public func send(_ bytes: [UInt8]) throws(UDPError) {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw UDPError("send") }
    }

    /// The port actually bound (useful after binding port 0).
    public var localPort: UInt16 {
        var sa = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: sa.sin_port)
    }

    /// Starts delivering datagrams to `handler` on `queue`. Each readiness event drains
    /// up to `batch` datagrams so one busy socket cannot starve the queue.
    public func startReceiving(on queue: DispatchQueue, bufferSize: Int = 65536, batch: Int = 64,
                               handler: @escaping @Sendable (Datagram) -> Void) {
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let fd = self.fd
        // One receive buffer per socket, reused: the handler only ever runs on `queue`.
        let buffer = ReceiveBuffer(size: bufferSize)
        source.setEventHandler {
            for _ in 0..<batch {
                guard let datagram = Self.receive(fd: fd, buffer: buffer) else { break }
                handler(datagram)
            }
        }
        source.setCancelHandler { Glibc.close(fd) }
        lock.sync { readSource = source }
        source.resume()
    }

    static func receive(fd: Int32, buffer: ReceiveBuffer) -> Datagram? {
        var from = sockaddr_in()
        let bufferCount = buffer.bytes.count
        return buffer.bytes.withUnsafeMutableBytes { raw -> Datagram? in
            buffer.control.withUnsafeMutableBytes { ctl -> Datagram? in
                withUnsafeMutablePointer(to: &from) { fromPtr -> Datagram? in
                    var iov = iovec(iov_base: raw.baseAddress, iov_len: bufferCount)
                    return withUnsafeMutablePointer(to: &iov) { iovPtr -> Datagram? in
                        var msg = msghdr()
                        msg.msg_name = UnsafeMutableRawPointer(fromPtr)
                        msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                        msg.msg_iov = iovPtr
                        msg.msg_iovlen = 1
                        msg.msg_control = ctl.baseAddress
                        msg.msg_controllen = ctl.count
                        let n = recvmsg(fd, &msg, 0)
                        guard n >= 0 else { return nil }
                        var destination: IPv4Address?
                        var ifindex: Int32?
                        // CMSG_FIRSTHDR/CMSG_NXTHDR are macros Swift cannot see; walk the
                        // control buffer by hand with the same alignment rules.
                        var offset = 0
                        let controlLength = Int(msg.msg_controllen)
                        while offset + MemoryLayout<cmsghdr>.size <= controlLength {
                            let header = ctl.baseAddress!.advanced(by: offset).loadUnaligned(as: cmsghdr.self)
                            let length = Int(header.cmsg_len)
                            guard length >= MemoryLayout<cmsghdr>.size, offset + length <= controlLength else { break }
                            if header.cmsg_level == IPPROTO_IP && header.cmsg_type == IP_PKTINFO
                                && length >= cmsgHeaderLength + MemoryLayout<in_pktinfo>.size {
                                let info = ctl.baseAddress!.advanced(by: offset + cmsgHeaderLength).loadUnaligned(as: in_pktinfo.self)
                                destination = IPv4Address(hostOrder: UInt32(bigEndian: info.ipi_addr.s_addr))
                                ifindex = info.ipi_ifindex
                            }
                            offset += (length + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)
                        }
                        let truncated = msg.msg_flags & Int32(MSG_TRUNC) != 0
                        let length = min(n, bufferCount)
                        return Datagram(
                            bytes: Array(raw[0..<length]), source: IPv4Endpoint(fromPtr.pointee),
                            destinationAddress: destination, interfaceIndex: ifindex, truncated: truncated)
                    }
                }
            }
        }
    }

    /// Sends one datagram. With `interfaceIndex`, IP_PKTINFO pins the egress interface,
    /// which is how a broadcast to 255.255.255.255 leaves by the NIC the request came in on
    /// rather than by the default route.
    public func send(_ bytes: [UInt8], to destination: IPv4Endpoint, interfaceIndex: Int32? = nil,
                     sourceAddress: IPv4Address? = nil) throws(UDPError) {
        var sa = destination.sockaddr
        var sent = 0
        bytes.withUnsafeBytes { raw in
            var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)
            withUnsafeMutablePointer(to: &sa) { saPtr in
                withUnsafeMutablePointer(to: &iov) { iovPtr in
                    var msg = msghdr()
                    msg.msg_name = UnsafeMutableRawPointer(saPtr)
                    msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_in>.size)
                    msg.msg_iov = iovPtr
                    msg.msg_iovlen = 1
                    if interfaceIndex != nil || sourceAddress != nil {
                        let space = cmsgSpace(MemoryLayout<in_pktinfo>.size)
                        var control = [UInt8](repeating: 0, count: space)
                        sent = control.withUnsafeMutableBytes { ctl in
                            let header = ctl.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                            header.pointee.cmsg_level = Int32(IPPROTO_IP)
                            header.pointee.cmsg_type = Int32(IP_PKTINFO)
                            header.pointee.cmsg_len = cmsgLength(MemoryLayout<in_pktinfo>.size)
                            var info = in_pktinfo()
                            info.ipi_ifindex = interfaceIndex ?? 0
                            info.ipi_spec_dst = in_addr(s_addr: (sourceAddress?.hostOrder ?? 0).bigEndian)
                            ctl.baseAddress!.advanced(by: cmsgHeaderLength).storeBytes(of: info, as: in_pktinfo.self)
                            msg.msg_control = ctl.baseAddress
                            msg.msg_controllen = space
                            return sendmsg(fd, &msg, 0)
                        }
                    } else {
                        sent = sendmsg(fd, &msg, 0)
                    }
                }
            }
        }
        guard sent == bytes.count else { throw UDPError("sendmsg", "to \(destination)") }
    }

    /// Blocking-free receive for callers that poll (tests, load generators); nil when
    /// nothing is queued.
    public func receiveNow(bufferSize: Int = 65536) -> Datagram? {
        Self.receive(fd: fd, buffer: ReceiveBuffer(size: bufferSize))
    }

    /// Stops the read source (which closes the descriptor) or closes it directly if
    /// receiving never started.
    public func close() {
        let source = lock.sync { () -> DispatchSourceRead? in
            let s = readSource
            readSource = nil
            return s
        }
        if let source { source.cancel() } else { Glibc.close(fd) }
    }
}

/// Storage reused across reads (datagram and control messages); touched only by the one
/// queue or thread that reads with it.
final class ReceiveBuffer: @unchecked Sendable {
    var bytes: [UInt8]
    var control = [UInt8](repeating: 0, count: 128)
    init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }
}

private let cmsgHeaderLength = (MemoryLayout<cmsghdr>.size + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)
private func cmsgSpace(_ n: Int) -> Int { cmsgHeaderLength + ((n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)) }
private func cmsgLength(_ n: Int) -> Int { cmsgHeaderLength + n }
