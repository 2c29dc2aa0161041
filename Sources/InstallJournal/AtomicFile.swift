// Writing a small state file of the daemon's so that, at every instant and after a crash,
// it holds either its old content or its new one: a temporary file beside it, fsync,
// rename over, fsync of the folder. Shared by install once's file and the tokens' files.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct AtomicFileError: Error, Equatable {
    /// What failed, with the system's reason ("open …: Permission denied").
    public var reason: String
}

public enum AtomicFile {
    /// Replaces `path` with `data`, created with `mode` (the umask may only narrow it).
    public static func write(_ data: Data, to path: String, mode: mode_t) throws(AtomicFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = "\(path).tmp-\(getpid())"
        func failure(_ what: String) -> AtomicFileError {
            AtomicFileError(reason: "\(what): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw failure("open \(temporary)") }
        // An old temporary file of the same name keeps its mode through O_TRUNC: set it.
        fchmod(fd, mode)
        var written = 0
        let ok = data.withUnsafeBytes { bytes -> Bool in
            while written < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let error = failure("write \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("rename \(temporary)")
            unlink(temporary)
            throw error
        }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
