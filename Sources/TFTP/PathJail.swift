// The TFTP root as a jail. A client's name is made relative (leading '/' dropped, '\'
// read as '/'), refused outright if it could climb ('..'), carries NUL bytes or is too
// long, then resolved with every symlink followed; the result must still lie inside the
// root, or inside a folder the admin trusts as a link target. The descriptor that is
// finally opened is checked again through /proc/self/fd, so a path swapped between the
// check and the open cannot lead outside either. Nothing outside is ever read.

#if canImport(Glibc)
import Glibc
#endif

public struct TFTPRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: TFTPErrorCode
    public var message: String
    public init(_ code: TFTPErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}

public struct TFTPPathJail: Sendable, Equatable {
    /// Longest name accepted from a client, in bytes.
    public static let maxNameLength = 255

    /// The root with every symlink resolved.
    public let root: String
    public let trustedLinkTargets: [String]

    /// nil when the root does not exist.
    public init?(root: String, trustedLinkTargets: [String] = []) {
        guard let canonical = Self.realPath(root) else { return nil }
        self.root = canonical
        self.trustedLinkTargets = trustedLinkTargets.compactMap(Self.realPath)
    }

    /// The client's name as a path relative to the root ("a/b/c"), or why it is refused.
    public static func normalize(_ name: [UInt8]) -> Result<String, TFTPRefusal> {
        if name.count > maxNameLength {
            return .failure(TFTPRefusal(.accessViolation, "File name longer than \(maxNameLength) bytes"))
        }
        if name.contains(0) { return .failure(TFTPRefusal(.accessViolation, "NUL byte in file name")) }
        let slashed = name.map { $0 == UInt8(ascii: "\\") ? UInt8(ascii: "/") : $0 }
        var parts: [ArraySlice<UInt8>] = []
        for part in slashed.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                return .failure(TFTPRefusal(.accessViolation, "'..' in file name"))
            }
            parts.append(part)
        }
        guard !parts.isEmpty else { return .failure(TFTPRefusal(.accessViolation, "No file name")) }
        let joined = Array(parts.joined(separator: [UInt8(ascii: "/")]))
        let text = String(decoding: joined, as: UTF8.self)
        guard Array(text.utf8) == joined else {
            return .failure(TFTPRefusal(.accessViolation, "File name is not UTF-8"))
        }
        return .success(text)
    }

    /// The canonical path of `relative` (a `normalize` result), checked to lie inside.
    public func resolve(_ relative: String) -> Result<String, TFTPRefusal> {
        guard let canonical = Self.realPath(root + "/" + relative) else {
            switch errno {
            case ENOENT, ENOTDIR: return .failure(TFTPRefusal(.fileNotFound, "File not found"))
            default: return .failure(TFTPRefusal(.accessViolation, "Cannot open: \(String(cString: strerror(errno)))"))
            }
        }
        guard isAllowed(canonical) else { return .failure(TFTPRefusal(.accessViolation, "Outside the TFTP root")) }
        return .success(canonical)
    }

    func isAllowed(_ canonical: String) -> Bool {
        ([root] + trustedLinkTargets).contains { base in
            canonical == base || canonical.hasPrefix(base == "/" ? "/" : base + "/")
        }
    }

    /// Opens a `resolve` result read-only: a regular file inside the jail, or a refusal.
    func open(canonical: String) -> Result<(fd: Int32, status: stat), TFTPRefusal> {
        // O_NONBLOCK: opening a FIFO must not hang the server; O_NOFOLLOW: the last
        // component was resolved already and must not have become a link since.
        let fd = Glibc.open(canonical, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .failure(TFTPRefusal(.fileNotFound, "File not found"))
            default: return .failure(TFTPRefusal(.accessViolation, "Cannot open: \(String(cString: strerror(errno)))"))
            }
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            close(fd)
            return .failure(TFTPRefusal(.accessViolation, "Cannot open: \(String(cString: strerror(errno)))"))
        }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(fd)
            return .failure(kind == S_IFDIR ? TFTPRefusal(.fileNotFound, "Not a file") : TFTPRefusal(.accessViolation, "Not a regular file"))
        }
        guard let opened = Self.pathOfDescriptor(fd), isAllowed(opened) else {
            close(fd)
            return .failure(TFTPRefusal(.accessViolation, "Outside the TFTP root"))
        }
        return .success((fd, status))
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
