// Open files shared by every transfer that reads them: when a whole bench fetches the
// same loader, one descriptor serves all, read with pread at each transfer's own offset.
// An entry is reused only while the file on disk is still the same (device, inode, size,
// modification time), so a replaced loader is picked up by the next request.

#if canImport(Glibc)
import Glibc
#endif

/// One open file; the descriptor closes when the last transfer and the cache let go.
public final class TFTPCachedFile: TFTPContent {
    public let size: Int
    let fd: Int32
    let identity: FileIdentity

    init(fd: Int32, status: stat) {
        self.fd = fd
        self.size = Int(status.st_size)
        self.identity = FileIdentity(status)
    }

    deinit { close(fd) }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(TFTPReadError) -> Int {
        var total = 0
        while total < buffer.count {
            let n = pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(offset + total))
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw TFTPReadError(errno: errno)
            }
            total += n
        }
        return total
    }
}

struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int
    var modifiedNanoseconds: Int

    init(_ s: stat) {
        device = UInt64(s.st_dev)
        inode = UInt64(s.st_ino)
        size = Int64(s.st_size)
        modifiedSeconds = Int(s.st_mtim.tv_sec)
        modifiedNanoseconds = Int(s.st_mtim.tv_nsec)
    }
}

/// Not thread-safe: the server uses it from its control queue only.
final class TFTPFileCache {
    private var files: [String: TFTPCachedFile] = [:]
    /// Files kept open while no transfer reads them.
    let idleCapacity: Int

    init(idleCapacity: Int = 32) { self.idleCapacity = idleCapacity }

    var openCount: Int { files.count }

    func open(_ relative: String, in jail: TFTPPathJail) -> Result<TFTPCachedFile, TFTPRefusal> {
        let canonical: String
        switch jail.resolve(relative) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let path): canonical = path
        }
        var status = stat()
        if let cached = files[canonical], stat(canonical, &status) == 0, FileIdentity(status) == cached.identity {
            return .success(cached)
        }
        switch jail.open(canonical: canonical) {
        case .failure(let refusal):
            files[canonical] = nil
            return .failure(refusal)
        case .success(let opened):
            let file = TFTPCachedFile(fd: opened.fd, status: opened.status)
            files[canonical] = file
            evictIdle()
            return .success(file)
        }
    }

    /// Closes files no transfer holds, beyond `idleCapacity`.
    private func evictIdle() {
        guard files.count > idleCapacity else { return }
        for key in Array(files.keys) where files.count > idleCapacity {
            if isKnownUniquelyReferenced(&files[key]!) { files[key] = nil }
        }
    }

    func removeAll() { files = [:] }
}
