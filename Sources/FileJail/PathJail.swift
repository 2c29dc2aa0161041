// The one jail for files served to the LAN, used by TFTP (the TFTP root) and HTTP (the
// TFTP root again under /tftp/, the images folder under /images/), so both protocols
// serve exactly the same files under exactly the same rules:
//
// - A name is a list of components; each protocol splits its own syntax into them (TFTP
//   reads '\' as '/' and drops empty and "." parts, HTTP decodes each URL segment alone so
//   "%2F" never becomes a separator).
// - Every component must be non-empty, free of '/', '\' and NUL, and must not start with
//   '.'. That one rule refuses "..", "." and hidden files alike. Hidden files are refused
//   because no firmware, iPXE, GRUB or Debian installer ever asks for one, while the
//   folders admins serve do collect them: editor swap files, rsync's partial files, a
//   .git folder, keys copied in by mistake. Serving them over unauthenticated TFTP/HTTP
//   would help nobody and could leak something.
// - The joined path is resolved with every symlink followed; the result must lie inside
//   the root or inside a folder the admin trusts as a link target (Debian's ipxe package
//   links /usr/lib/ipxe/ipxe.efi to /boot/ipxe.efi).
// - The descriptor finally opened is checked again through /proc/self/fd, so a path
//   swapped for a symlink between the check and the open cannot lead outside either.

#if canImport(Glibc)
import Glibc
#endif

/// Why a name was not served. Each protocol maps these to its own answer (a TFTP error
/// code, an HTTP status).
public enum JailRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name breaks the component rule; the text says how.
    case badName(String)
    /// The name resolved outside the root (through a symlink).
    case outsideRoot
    case notFound
    case isDirectory
    /// A FIFO, a device, a socket.
    case notARegularFile
    /// open/fstat failed for another reason (permissions): the errno text.
    case cannotOpen(String)

    public var description: String {
        switch self {
        case .badName(let why): why
        case .outsideRoot: "Outside the served folder"
        case .notFound: "File not found"
        case .isDirectory: "Not a file"
        case .notARegularFile: "Not a regular file"
        case .cannotOpen(let why): "Cannot open: \(why)"
        }
    }
}

public struct PathJail: Sendable, Equatable {
    /// The root with every symlink resolved.
    public let root: String
    public let trustedLinkTargets: [String]

    /// nil when the root does not exist.
    public init?(root: String, trustedLinkTargets: [String] = []) {
        guard let canonical = Self.realPath(root) else { return nil }
        self.root = canonical
        self.trustedLinkTargets = trustedLinkTargets.compactMap(Self.realPath)
    }

    /// The components joined into a path relative to the root ("a/b/c"), or why not.
    public static func relativePath(_ components: [String]) -> Result<String, JailRefusal> {
        guard !components.isEmpty else { return .failure(.badName("No file name")) }
        for component in components {
            if component.isEmpty { return .failure(.badName("Empty component in file name")) }
            if component.utf8.contains(0) { return .failure(.badName("NUL byte in file name")) }
            if component == ".." { return .failure(.badName("'..' in file name")) }
            if component.hasPrefix(".") { return .failure(.badName("Name starting with '.' in file name")) }
            if component.contains("/") || component.contains("\\") { return .failure(.badName("Separator inside a file name component")) }
        }
        return .success(components.joined(separator: "/"))
    }

    /// The canonical path of `relative` (a `relativePath` result), checked to lie inside.
    public func resolve(_ relative: String) -> Result<String, JailRefusal> {
        guard let canonical = Self.realPath(root + "/" + relative) else {
            switch errno {
            case ENOENT, ENOTDIR: return .failure(.notFound)
            default: return .failure(.cannotOpen(String(cString: strerror(errno))))
            }
        }
        guard isAllowed(canonical) else { return .failure(.outsideRoot) }
        return .success(canonical)
    }

    /// Opens `components` under the root: the rule, the resolution and the open in one.
    public func open(_ components: [String]) -> Result<JailedFile, JailRefusal> {
        relativePath(components).flatMap(resolve).flatMap { open(canonical: $0) }
    }

    private func relativePath(_ components: [String]) -> Result<String, JailRefusal> { Self.relativePath(components) }

    /// Opens a `resolve` result read-only: a regular file inside the jail, or a refusal.
    public func open(canonical: String) -> Result<JailedFile, JailRefusal> {
        // O_NONBLOCK: opening a FIFO must not hang the server; O_NOFOLLOW: the last
        // component was resolved already and must not have become a link since.
        let fd = Glibc.open(canonical, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .failure(.notFound)
            default: return .failure(.cannotOpen(String(cString: strerror(errno))))
            }
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            return .failure(.cannotOpen(why))
        }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(fd)
            return .failure(kind == S_IFDIR ? .isDirectory : .notARegularFile)
        }
        guard let opened = Self.pathOfDescriptor(fd), isAllowed(opened) else {
            close(fd)
            return .failure(.outsideRoot)
        }
        return .success(JailedFile(descriptor: fd, status: status, path: canonical))
    }

    func isAllowed(_ canonical: String) -> Bool {
        ([root] + trustedLinkTargets).contains { base in
            canonical == base || canonical.hasPrefix(base == "/" ? "/" : base + "/")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func pathOfDescriptor(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Who a file on disk is: when any of these change, it is another file (or a rewritten one).
public struct FileIdentity: Equatable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modifiedSeconds: Int
    public var modifiedNanoseconds: Int

    public init(_ s: stat) {
        device = UInt64(s.st_dev)
        inode = UInt64(s.st_ino)
        size = Int64(s.st_size)
        modifiedSeconds = Int(s.st_mtim.tv_sec)
        modifiedNanoseconds = Int(s.st_mtim.tv_nsec)
    }

    /// The identity of what `path` names now, nil if it cannot be told.
    public init?(path: String) {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        self.init(s)
    }
}

/// A regular file inside a jail, opened for reading; the descriptor is what gets served,
/// so the file cannot be swapped between the check and the read. Closed when released.
public final class JailedFile: Sendable {
    public struct ReadError: Error, Sendable, Equatable { public let errno: Int32 }

    public let descriptor: Int32
    /// The identity (and size) when opened.
    public let identity: FileIdentity
    /// The canonical path it was opened by.
    public let path: String

    init(descriptor: Int32, status: stat, path: String) {
        self.descriptor = descriptor
        self.identity = FileIdentity(status)
        self.path = path
    }

    deinit { close(descriptor) }

    public var size: Int64 { identity.size }

    /// Reads up to `buffer.count` bytes at `offset`; the bytes read (fewer at the end of
    /// the file), or the errno of a failed read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Result<Int, ReadError> {
        var done = 0
        while done < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadError(errno: errno))
            }
            done += n
        }
        return .success(done)
    }

    /// The size the file has now (it was `size` when opened); -1 if it cannot be told.
    public func currentSize() -> Int64 {
        var info = stat()
        return fstat(descriptor, &info) == 0 ? Int64(info.st_size) : -1
    }
}
