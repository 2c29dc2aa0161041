// The TFTP wire format (RFC 1350) with the option extension (RFC 2347). Bytes in,
// values out and back; no sockets, no files.

/// Error codes of RFC 1350 and RFC 2347 (8).
public enum TFTPErrorCode: UInt16, Sendable, Equatable, CustomStringConvertible {
    case notDefined = 0
    case fileNotFound = 1
    case accessViolation = 2
    case diskFull = 3
    case illegalOperation = 4
    case unknownTransferID = 5
    case fileExists = 6
    case noSuchUser = 7
    case optionRefused = 8

    public var description: String {
        switch self {
        case .notDefined: "not-defined"
        case .fileNotFound: "file-not-found"
        case .accessViolation: "access-violation"
        case .diskFull: "disk-full"
        case .illegalOperation: "illegal-operation"
        case .unknownTransferID: "unknown-transfer-id"
        case .fileExists: "file-exists"
        case .noSuchUser: "no-such-user"
        case .optionRefused: "option-refused"
        }
    }
}

public enum TFTPMode: String, Sendable, Equatable {
    case octet
    case netascii
}

/// A read or write request as sent to port 69.
public struct TFTPRequest: Sendable, Equatable {
    /// The name exactly as sent; the path jail decides what it means.
    public var filename: [UInt8]
    /// The mode field as sent, lowercased (RFC 1350 makes it case-insensitive).
    public var modeName: String
    /// Options in request order, names lowercased (RFC 2347: case-insensitive).
    public var options: [(name: String, value: String)]

    public var mode: TFTPMode? { TFTPMode(rawValue: modeName) }
    public var filenameText: String { String(decoding: filename, as: UTF8.self) }

    public init(filename: [UInt8], modeName: String, options: [(name: String, value: String)] = []) {
        self.filename = filename
        self.modeName = modeName
        self.options = options
    }

    public static func == (a: TFTPRequest, b: TFTPRequest) -> Bool {
        a.filename == b.filename && a.modeName == b.modeName
            && a.options.map(\.name) == b.options.map(\.name) && a.options.map(\.value) == b.options.map(\.value)
    }
}

public enum TFTPPacket: Sendable, Equatable {
    case readRequest(TFTPRequest)
    case writeRequest(TFTPRequest)
    case data(block: UInt16, payload: [UInt8])
    case ack(block: UInt16)
    case error(code: UInt16, message: String)
    case optionAck([(name: String, value: String)])

    public static func == (a: TFTPPacket, b: TFTPPacket) -> Bool {
        switch (a, b) {
        case (.readRequest(let x), .readRequest(let y)), (.writeRequest(let x), .writeRequest(let y)): x == y
        case (.data(let b1, let p1), .data(let b2, let p2)): b1 == b2 && p1 == p2
        case (.ack(let x), .ack(let y)): x == y
        case (.error(let c1, let m1), .error(let c2, let m2)): c1 == c2 && m1 == m2
        case (.optionAck(let x), .optionAck(let y)): x.map(\.name) == y.map(\.name) && x.map(\.value) == y.map(\.value)
        default: false
        }
    }
}

public enum TFTPParseError: Error, Sendable, Equatable {
    case tooShort
    case unknownOpcode(UInt16)
    /// A string field without its terminating NUL.
    case unterminatedField
    /// The mode field of a request is missing.
    case missingMode
}

enum Opcode: UInt16 {
    case readRequest = 1, writeRequest, data, ack, error, optionAck
}

extension TFTPPacket {
    public init(parsing bytes: [UInt8]) throws(TFTPParseError) {
        guard bytes.count >= 4 else { throw .tooShort }
        let raw = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard let opcode = Opcode(rawValue: raw) else { throw .unknownOpcode(raw) }
        let number = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
        switch opcode {
        case .readRequest: self = .readRequest(try Self.parseRequest(bytes))
        case .writeRequest: self = .writeRequest(try Self.parseRequest(bytes))
        case .data: self = .data(block: number, payload: Array(bytes[4...]))
        case .ack: self = .ack(block: number)
        case .error:
            // Some clients omit the final NUL of the message: take what is there.
            let text = bytes[4...].prefix { $0 != 0 }
            self = .error(code: number, message: String(decoding: text, as: UTF8.self))
        case .optionAck:
            let fields = try Self.fields(bytes[2...])
            self = .optionAck(Self.pairs(fields))
        }
    }

    /// Splits NUL-terminated fields; every field must be terminated.
    private static func fields(_ bytes: ArraySlice<UInt8>) throws(TFTPParseError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = bytes.startIndex
        var i = start
        while i < bytes.endIndex {
            if bytes[i] == 0 {
                out.append(Array(bytes[start..<i]))
                start = i + 1
            }
            i += 1
        }
        guard start == bytes.endIndex else { throw .unterminatedField }
        return out
    }

    private static func pairs(_ fields: [[UInt8]]) -> [(name: String, value: String)] {
        stride(from: 0, to: fields.count - fields.count % 2, by: 2).map {
            (String(decoding: fields[$0], as: UTF8.self).lowercased(), String(decoding: fields[$0 + 1], as: UTF8.self))
        }
    }

    private static func parseRequest(_ bytes: [UInt8]) throws(TFTPParseError) -> TFTPRequest {
        let fields = try Self.fields(bytes[2...])
        guard fields.count >= 2 else { throw fields.isEmpty ? .unterminatedField : .missingMode }
        let mode = String(decoding: fields[1], as: UTF8.self).lowercased()
        if TFTPMode(rawValue: mode) == nil, let modeIndex = fields.dropFirst(2).firstIndex(where: Self.isMode) {
            // The name itself carried NUL bytes ("a\0b\0octet\0"). Keep them in the name so
            // the jail refuses it as an access violation instead of guessing which part was meant.
            let name = fields[0..<modeIndex].joined(separator: [0])
            let modeName = String(decoding: fields[modeIndex], as: UTF8.self).lowercased()
            return TFTPRequest(filename: Array(name), modeName: modeName, options: pairs(Array(fields[(modeIndex + 1)...])))
        }
        // An odd trailing field is a half option: ignored, as RFC 2347 asks of unknown input.
        return TFTPRequest(filename: fields[0], modeName: mode, options: pairs(Array(fields[2...])))
    }

    private static func isMode(_ field: [UInt8]) -> Bool {
        TFTPMode(rawValue: String(decoding: field, as: UTF8.self).lowercased()) != nil
    }

    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        func put16(_ v: UInt16) { out.append(UInt8(v >> 8)); out.append(UInt8(v & 0xff)) }
        func putString(_ s: String) { out.append(contentsOf: Array(s.utf8)); out.append(0) }
        switch self {
        case .readRequest(let r), .writeRequest(let r):
            if case .readRequest = self { put16(Opcode.readRequest.rawValue) } else { put16(Opcode.writeRequest.rawValue) }
            out.append(contentsOf: r.filename); out.append(0)
            putString(r.modeName)
            for o in r.options { putString(o.name); putString(o.value) }
        case .data(let block, let payload):
            return Self.dataPacket(block: block, payload: payload)
        case .ack(let block):
            put16(Opcode.ack.rawValue); put16(block)
        case .error(let code, let message):
            put16(Opcode.error.rawValue); put16(code); putString(message)
        case .optionAck(let options):
            put16(Opcode.optionAck.rawValue)
            for o in options { putString(o.name); putString(o.value) }
        }
        return out
    }

    static func dataPacket(block: UInt16, payload: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 4 + payload.count)
        out[1] = UInt8(Opcode.data.rawValue)
        out[2] = UInt8(block >> 8)
        out[3] = UInt8(block & 0xff)
        out.replaceSubrange(4..., with: payload)
        return out
    }

    public static func error(_ code: TFTPErrorCode, _ message: String) -> TFTPPacket {
        .error(code: code.rawValue, message: message)
    }
}
