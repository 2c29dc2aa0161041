// Opening a file by a path that came from a URL, without ever leaving a root folder:
// no "..", no absolute paths, no NUL, and no symlink that resolves outside the root
// (a symlink inside the root that stays inside is fine: Debian's tree uses them).

import Foundation

public enum ContainedFileRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// A component was empty, ".", "..", hidden, or held a separator or NUL.
    case badPath
    /// The path resolved outside the root (through a symlink).
    case outsideRoot
    case notFound
    case notARegularFile

    public var description: String {
        switch self {
        case .badPath: "path refused"
        case .outsideRoot: "path leaves the served folder"
        case .notFound: "no such file"
        case .notARegularFile: "not a regular file"
        }
    }
}

/// A regular file inside a root, opened for reading; the descriptor is what gets served,
/// so the file cannot be swapped for a symlink between the check and the read.
public final class ContainedFile: @unchecked Sendable {
    public let descriptor: Int32
    public let size: Int64
    public let modified: Date
    /// Device and inode, for the ETag.
    public let identity: (device: UInt64, inode: UInt64)
    public let resolvedPath: String

    /// Opens `components` (already percent-decoded, split on "/") under `root`. Symlinks
    /// may lead into `trustedLinkTargets` (Debian's ipxe package links
    /// /usr/lib/ipxe/ipxe.efi to /boot/ipxe.efi), nowhere else outside the root.
    public init(root: String, components: [String], trustedLinkTargets: [String] = []) throws(ContainedFileRefusal) {
        guard !components.isEmpty, components.allSatisfy(Self.isAcceptableComponent) else { throw .badPath }
        guard let realRoot = Self.realPath(root) else { throw .notFound }
        let allowed = [realRoot] + trustedLinkTargets.compactMap(Self.realPath)
        func isInside(_ path: String) -> Bool {
            allowed.contains { base in path.hasPrefix(base == "/" ? "/" : base + "/") }
        }
        guard let real = Self.realPath(root + "/" + components.joined(separator: "/")) else { throw .notFound }
        guard isInside(real) else { throw .outsideRoot }
        // O_NONBLOCK: a FIFO planted in the folder must not hang the server.
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw .notFound }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .notARegularFile
        }
        // A folder on the way swapped for a symlink after realpath() is caught here: what
        // was opened is checked, not what was resolved.
        guard let opened = Self.pathOfDescriptor(fd), isInside(opened) else {
            close(fd)
            throw .outsideRoot
        }
        descriptor = fd
        size = Int64(info.st_size)
        modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
        identity = (UInt64(info.st_dev), UInt64(info.st_ino))
        resolvedPath = real
    }

    deinit { close(descriptor) }

    /// Reads up to `count` bytes at `offset` into `buffer`; returns the bytes read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        return done
    }

    /// The size the file has now (it was `size` when opened); -1 if it cannot be told.
    public func currentSize() -> Int64 {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Int64(info.st_size) : -1
    }

    static func isAcceptableComponent(_ c: String) -> Bool {
        !c.isEmpty && !c.hasPrefix(".") && !c.contains("/") && !c.contains("\0") && !c.contains("\\")
    }

    private static func pathOfDescriptor(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
