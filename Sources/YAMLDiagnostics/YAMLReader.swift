// Shared by every file admins edit (config, menus). Reads admin-edited YAML into typed values while keeping every node's position, so that
// each mistake is reported as `file:line:column: message`, the way compilers do, and all
// mistakes of a file are reported at once rather than one per attempt.

@_exported import Yams

/// One problem in a file the admins edit.
public struct SourceDiagnostic: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// Line 0 marks a problem with no place in a file, such as a command-line flag.
    public var description: String {
        line == 0 ? "\(file): error: \(message)" : "\(file):\(line):\(column): error: \(message)"
    }
}

/// All problems found in one load; thrown when there is at least one.
public struct SourceDiagnostics: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [SourceDiagnostic]
    /// Sorted by position, so they read top to bottom like the file.
    public init(_ diagnostics: [SourceDiagnostic]) {
        self.diagnostics = diagnostics.sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }
    }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Collects diagnostics for one file.
public final class YAMLDiagnosticSink {
    public let file: String
    public private(set) var diagnostics: [SourceDiagnostic] = []

    public init(file: String) { self.file = file }

    public func error(_ message: String, at mark: Mark?) {
        diagnostics.append(SourceDiagnostic(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    public func commandLineError(_ message: String) {
        diagnostics.append(SourceDiagnostic(file: "command line", line: 0, column: 0, message: message))
    }

    /// Parses the text into a node tree, turning a syntax error into a positioned diagnostic.
    public func compose(_ text: String) -> Node? {
        if let (line, column, name) = Self.yamlOnlyLineBreak(in: text) {
            diagnostics.append(SourceDiagnostic(file: file, line: line, column: column, message:
                "\(name) that is not part of a CR LF line end: YAML would count it as a new line, editors and grep do not; save the file with LF (or CR LF) line ends"))
            return nil
        }
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            switch error {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
                 .composer(let context, let problem, let mark, _):
                let detail = context.map { "\($0.text) " } ?? ""
                self.error("YAML syntax: \(detail)\(problem)", at: mark)
            default:
                self.error("YAML syntax: \(error)", at: nil)
            }
            return nil
        } catch {
            self.error("YAML syntax: \(error)", at: nil)
            return nil
        }
    }
}

extension YAMLDiagnosticSink {
    /// The first character YAML takes as a line break but `\n`-counting tools do not (a
    /// lone CR, NEL, LS, PS), at its line and column as an editor shows them. Without this
    /// check every position after it would point to the wrong line, even past the end of
    /// the file (found by the menu fuzz target).
    static func yamlOnlyLineBreak(in text: String) -> (line: Int, column: Int, name: String)? {
        var line = 1
        var column = 1
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            if let p = previous, p == "\r", scalar != "\n" { return (line, column - 1, "a carriage return (CR)") }
            switch scalar {
            case "\n":
                line += 1
                column = 1
            case "\u{85}": return (line, column, "a NEL (U+0085) character")
            case "\u{2028}": return (line, column, "a line separator (U+2028)")
            case "\u{2029}": return (line, column, "a paragraph separator (U+2029)")
            default:
                column += 1
            }
            previous = scalar
        }
        if previous == "\r" { return (line, column - 1, "a carriage return (CR)") }
        return nil
    }
}

/// A YAML mapping read key by key. Keys that nobody asked for are reported by `finish()`
/// as unknown, with the list of keys that are allowed at that level.
public final class YAMLMappingReader {
    public let sink: YAMLDiagnosticSink
    public let path: String
    public let mark: Mark?
    private var entries: [(key: String, keyMark: Mark?, value: Node)] = []
    private var known: [String] = []

    /// nil (after reporting) when `node` is not a mapping.
    public init?(_ node: Node, path: String, sink: YAMLDiagnosticSink) {
        self.sink = sink
        self.path = path
        self.mark = node.mark
        guard case .mapping(let mapping) = node else {
            sink.error("\(path.isEmpty ? "the document" : "'\(path)'") must be a mapping of keys to values, found \(describe(node))", at: node.mark)
            return nil
        }
        var seen: Set<String> = []
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                sink.error("keys must be plain names", at: key.mark)
                continue
            }
            if !seen.insert(name).inserted {
                sink.error("key '\(qualified(name))' is given twice", at: key.mark)
                continue
            }
            entries.append((name, key.mark, value))
        }
    }

    public func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw node for `key`, marking the key as known.
    public func node(_ key: String) -> Node? {
        known.append(key)
        return entries.first { $0.key == key }?.value
    }

    public func finish() {
        for entry in entries where !known.contains(entry.key) {
            let allowed = known.joined(separator: ", ")
            sink.error("unknown key '\(qualified(entry.key))' (expected one of: \(allowed))", at: entry.keyMark)
        }
    }

    public func mapping(_ key: String) -> YAMLMappingReader? {
        guard let n = node(key), !isNull(n) else { return nil }
        return YAMLMappingReader(n, path: qualified(key), sink: sink)
    }

    public func string(_ key: String) -> String? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard case .scalar(let s) = n else {
            sink.error("'\(qualified(key))' must be a text value, found \(describe(n))", at: n.mark)
            return nil
        }
        return s.string
    }

    /// A string where `none`, `null` or an empty value mean "not set". Returns
    /// `.some(nil)` for an explicit none, nil when the key is absent.
    public func optionalString(_ key: String) -> String?? {
        guard let n = node(key) else { return nil }
        if isNull(n) { return .some(nil) }
        guard case .scalar(let s) = n else {
            sink.error("'\(qualified(key))' must be a text value or none, found \(describe(n))", at: n.mark)
            return nil
        }
        return s.string == "none" ? .some(nil) : .some(s.string)
    }

    public func int(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard case .scalar(let s) = n, let v = Int(s.string) else {
            sink.error("'\(qualified(key))' must be a whole number, found \(describe(n))", at: n.mark)
            return nil
        }
        guard range.contains(v) else {
            sink.error("'\(qualified(key))' must be between \(range.lowerBound) and \(range.upperBound), found \(v)", at: n.mark)
            return nil
        }
        return v
    }

    /// A number in range, or `none` for "not set" (`.some(nil)`).
    public func optionalInt(_ key: String, in range: ClosedRange<Int>) -> Int?? {
        guard let n = node(key) else { return nil }
        if isNull(n) || n.scalar?.string == "none" { return .some(nil) }
        guard case .scalar(let s) = n, let v = Int(s.string) else {
            sink.error("'\(qualified(key))' must be a whole number or none, found \(describe(n))", at: n.mark)
            return nil
        }
        guard range.contains(v) else {
            sink.error("'\(qualified(key))' must be between \(range.lowerBound) and \(range.upperBound), found \(v)", at: n.mark)
            return nil
        }
        return .some(v)
    }

    public func bool(_ key: String) -> Bool? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard case .scalar(let s) = n, let v = parseBool(s.string) else {
            sink.error("'\(qualified(key))' must be true or false, found \(describe(n))", at: n.mark)
            return nil
        }
        return v
    }

    /// A list of text values, each with its position (for per-item validation).
    public func stringList(_ key: String) -> [(value: String, mark: Mark?)]? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard case .sequence(let seq) = n else {
            sink.error("'\(qualified(key))' must be a list, found \(describe(n))", at: n.mark)
            return nil
        }
        var out: [(String, Mark?)] = []
        for item in seq {
            guard case .scalar(let s) = item else {
                sink.error("items of '\(qualified(key))' must be text values, found \(describe(item))", at: item.mark)
                continue
            }
            out.append((s.string, item.mark))
        }
        return out
    }

    /// Position of a key's value, for errors found after reading (e.g. a bad address).
    public func markOf(_ key: String) -> Mark? { entries.first { $0.key == key }?.value.mark }

    /// A list whose items are mappings, each read by its own reader (items that are not
    /// mappings are reported and skipped).
    public func mappingList(_ key: String) -> [YAMLMappingReader]? {
        guard let n = node(key), !isNull(n) else { return nil }
        guard case .sequence(let seq) = n else {
            sink.error("'\(qualified(key))' must be a list, found \(describe(n))", at: n.mark)
            return nil
        }
        return seq.enumerated().compactMap { index, item in
            YAMLMappingReader(item, path: "\(qualified(key))[\(index + 1)]", sink: sink)
        }
    }

    /// A mapping whose keys are data (e.g. MAC addresses) and whose values are mappings.
    public func keyedMappings(_ key: String) -> [(key: String, keyMark: Mark?, reader: YAMLMappingReader)]? {
        guard let child = mapping(key) else { return nil }
        let items = child.entries.compactMap { entry -> (String, Mark?, YAMLMappingReader)? in
            _ = child.node(entry.key)
            guard let reader = YAMLMappingReader(entry.value, path: child.qualified(entry.key), sink: sink) else { return nil }
            return (entry.key, entry.keyMark, reader)
        }
        return items.map { (key: $0.0, keyMark: $0.1, reader: $0.2) }
    }
}

private func isNull(_ n: Node) -> Bool {
    guard case .scalar(let s) = n else { return false }
    return s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string)
}

private func parseBool(_ s: String) -> Bool? {
    switch s {
    case "true", "True", "TRUE", "yes", "Yes", "on", "On": true
    case "false", "False", "FALSE", "no", "No", "off", "Off": false
    default: nil
    }
}

public func describe(_ n: Node) -> String {
    switch n {
    case .scalar(let s): "'\(s.string)'"
    case .mapping: "a mapping"
    case .sequence: "a list"
    case .alias: "an alias"
    }
}
