// A TFTP client's file name, read the TFTP way: leading '/' dropped, '\' read as '/'
// (PXE firmware written for Windows servers sends them), empty and "." parts dropped,
// at most 255 bytes, UTF-8. The parts then go through FileJail's PathJail, the same rule
// set the HTTP side uses: no "..", no hidden names, nothing that resolves outside.

import FileJail

public struct TFTPRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: TFTPErrorCode
    public var message: String
    public init(_ code: TFTPErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }

    /// What a TFTP client is told when the jail refuses.
    public init(_ refusal: JailRefusal) {
        switch refusal {
        case .notFound, .isDirectory: self.init(.fileNotFound, refusal.description)
        case .outsideRoot: self.init(.accessViolation, "Outside the TFTP root")
        case .badName, .notARegularFile, .cannotOpen: self.init(.accessViolation, refusal.description)
        }
    }
}

public enum TFTPName {
    /// Longest name accepted from a client, in bytes.
    public static let maxLength = 255

    /// The client's name as a path relative to the root ("a/b/c"), or why it is refused.
    public static func relativePath(_ name: [UInt8]) -> Result<String, TFTPRefusal> {
        if name.count > maxLength {
            return .failure(TFTPRefusal(.accessViolation, "File name longer than \(maxLength) bytes"))
        }
        let slashed = name.map { $0 == UInt8(ascii: "\\") ? UInt8(ascii: "/") : $0 }
        var components: [String] = []
        for part in slashed.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            let text = String(decoding: part, as: UTF8.self)
            guard text.utf8.elementsEqual(part) else {
                return .failure(TFTPRefusal(.accessViolation, "File name is not UTF-8"))
            }
            components.append(text)
        }
        return PathJail.relativePath(components).mapError(TFTPRefusal.init)
    }
}
