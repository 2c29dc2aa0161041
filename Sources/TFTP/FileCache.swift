// Open files shared by every transfer that reads them: when a whole bench fetches the
// same loader, one descriptor serves all, read with pread at each transfer's own offset.
// An entry is reused only while the file on disk is still the same (device, inode, size,
// modification time), so a replaced loader is picked up by the next request.

import FileJail
#if canImport(Glibc)
import Glibc
#endif

/// One open file; the descriptor closes when the last transfer and the cache let go.
public final class TFTPCachedFile: TFTPContent {
    let file: JailedFile

    init(_ file: JailedFile) { self.file = file }

    public var size: Int { Int(file.size) }
    var identity: FileIdentity { file.identity }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(TFTPReadError) -> Int {
        switch file.read(into: buffer, at: Int64(offset)) {
        case .success(let n): return n
        case .failure(let failure): throw TFTPReadError(errno: failure.errno)
        }
    }
}

/// Not thread-safe: the server uses it from its control queue only.
final class TFTPFileCache {
    private var files: [String: TFTPCachedFile] = [:]
    /// Files kept open while no transfer reads them.
    let idleCapacity: Int

    init(idleCapacity: Int = 32) { self.idleCapacity = idleCapacity }

    var openCount: Int { files.count }

    func open(_ relative: String, in jail: PathJail) -> Result<TFTPCachedFile, TFTPRefusal> {
        let canonical: String
        switch jail.resolve(relative) {
        case .failure(let refusal): return .failure(TFTPRefusal(refusal))
        case .success(let path): canonical = path
        }
        if let cached = files[canonical], FileIdentity(path: canonical) == cached.identity {
            return .success(cached)
        }
        switch jail.open(canonical: canonical) {
        case .failure(let refusal):
            files[canonical] = nil
            return .failure(TFTPRefusal(refusal))
        case .success(let opened):
            let file = TFTPCachedFile(opened)
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
