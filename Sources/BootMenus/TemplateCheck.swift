// Checks that every name a template uses exists in the context of its role. swift-mustache
// keeps its token tree internal, so this reads the tags itself (with their positions) and
// resolves each name the way Mustache does: up the stack of open sections, then down the
// dotted path. It runs after the real parser accepted the template, so it can assume
// well-formed tags.

import YAMLDiagnostics

struct TemplateTag {
    enum Kind { case variable, section, invertedSection, close, partial, parent, block, comment, delimiters, pragma }
    var kind: Kind
    var name: String
    var line: Int
    var column: Int
}

enum TemplateScanner {
    /// The tags of `text` in order, with 1-based line and column of each tag's opening.
    static func tags(_ text: String) -> [TemplateTag] {
        var tags: [TemplateTag] = []
        var open = "{{"
        var close = "}}"
        let chars = Array(text)
        var i = 0
        var line = 1
        var column = 1
        func advance(_ n: Int) {
            for _ in 0..<n where i < chars.count {
                if chars[i] == "\n" { line += 1; column = 1 } else { column += 1 }
                i += 1
            }
        }
        func matches(_ s: String, at index: Int) -> Bool {
            let a = Array(s)
            guard index + a.count <= chars.count else { return false }
            return Array(chars[index..<index + a.count]) == a
        }
        while i < chars.count {
            guard matches(open, at: i) else { advance(1); continue }
            let (tagLine, tagColumn) = (line, column)
            advance(open.count)
            var closing = close
            var kind = TemplateTag.Kind.variable
            if i < chars.count {
                switch chars[i] {
                case "{": kind = .variable; closing = "}" + close; advance(1)
                case "&": kind = .variable; advance(1)
                case "#": kind = .section; advance(1)
                case "^": kind = .invertedSection; advance(1)
                case "/": kind = .close; advance(1)
                case ">": kind = .partial; advance(1)
                case "<": kind = .parent; advance(1)
                case "$": kind = .block; advance(1)
                case "!": kind = .comment; advance(1)
                case "=": kind = .delimiters; advance(1)
                case "%": kind = .pragma; advance(1)
                default: break
                }
            }
            var body = ""
            while i < chars.count, !matches(closing, at: i) {
                body.append(chars[i])
                advance(1)
            }
            advance(closing.count)
            if kind == .delimiters {
                let parts = body.dropLast().split(separator: " ", omittingEmptySubsequences: true)
                if parts.count == 2 { open = String(parts[0]); close = String(parts[1]) }
            }
            tags.append(TemplateTag(kind: kind, name: body.trimmingSpaces, line: tagLine, column: tagColumn))
        }
        return tags
    }
}

/// Sections opened and closed out of order, found from the tags with their positions.
enum SectionBalance {
    static func firstProblem(in text: String) -> (line: Int, column: Int, message: String)? {
        var open: [TemplateTag] = []
        for tag in TemplateScanner.tags(text) {
            switch tag.kind {
            case .section, .invertedSection, .parent, .block:
                open.append(tag)
            case .close:
                guard let last = open.popLast() else {
                    return (tag.line, tag.column, "'{{/\(tag.name)}}' closes a section that was never opened")
                }
                if last.name != tag.name {
                    return (tag.line, tag.column, "'{{/\(tag.name)}}' does not close the open section '\(last.name)' (line \(last.line))")
                }
            default:
                continue
            }
        }
        if let unclosed = open.last {
            return (unclosed.line, unclosed.column, "section '\(unclosed.name)' is never closed (missing '{{/\(unclosed.name)}}')")
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// A template's source, for checking.
struct TemplateSource {
    var name: String
    var path: String
    var text: String
}

struct TemplateNameChecker {
    /// All templates by name, for partials.
    var sources: [String: TemplateSource]
    var diagnostics: [SourceDiagnostic] = []
    private var seen: Set<String> = []

    init(sources: [String: TemplateSource]) { self.sources = sources }

    /// Checks `name` (and the partials it includes) against `context`.
    mutating func check(_ name: String, context: [String: Any]) {
        guard let source = sources[name] else { return }
        var stack: [Any] = [context]
        walk(source, stack: &stack, depth: 0)
    }

    private mutating func report(_ source: TemplateSource, _ tag: TemplateTag, _ message: String) {
        let d = SourceDiagnostic(file: source.path, line: tag.line, column: tag.column, message: message)
        if seen.insert(d.description).inserted { diagnostics.append(d) }
    }

    private mutating func walk(_ source: TemplateSource, stack: inout [Any], depth: Int) {
        let base = stack.count
        for tag in TemplateScanner.tags(source.text) {
            switch tag.kind {
            case .variable, .section, .invertedSection:
                let name = Self.variableName(tag.name)
                guard let value = resolve(name, in: stack) else {
                    report(source, tag, "unknown variable '\(name)' (\(describeKnown(name, stack)))")
                    if tag.kind == .section { stack.append(Unknown()) }
                    continue
                }
                if tag.kind == .section {
                    // A list section's body sees one item at a time.
                    if let list = value as? [[String: Any]] { stack.append(list.first ?? [:]) } else { stack.append(value) }
                } else if tag.kind == .invertedSection {
                    stack.append(Passthrough())
                }
            case .close:
                if stack.count > base { stack.removeLast() }
            case .partial, .parent:
                guard sources[tag.name] != nil else {
                    report(source, tag, "partial '\(tag.name)' does not exist (expected templates/\(tag.name).mustache)")
                    continue
                }
                // Partials may include themselves; a real menu never nests this deep.
                guard depth < 8 else { continue }
                var inner = stack
                walk(sources[tag.name]!, stack: &inner, depth: depth + 1)
            case .block, .comment, .delimiters, .pragma:
                continue
            }
        }
    }

    /// `lowercased(machine.product)` → `machine.product`.
    static func variableName(_ raw: String) -> String {
        var name = Substring(raw)
        while let open = name.firstIndex(of: "("), name.last == ")" {
            name = name[name.index(after: open)..<name.index(before: name.endIndex)]
        }
        return String(name)
    }

    /// Resolves like Mustache: "." is the top; ".a" looks only at the top; "a.b" finds
    /// `a` in the innermost context that has it, then descends.
    private func resolve(_ name: String, in stack: [Any]) -> Any? {
        if name == "." || name.isEmpty { return stack.last }
        let parts = name.split(separator: ".").map(String.init)
        let candidates: [Any] = name.hasPrefix(".") ? [stack.last as Any] : stack.reversed()
        for frame in candidates {
            if frame is Unknown { return Unknown() }
            if frame is Passthrough { continue }
            guard let dict = frame as? [String: Any], let first = dict[parts[0]] else { continue }
            var value: Any = first
            for part in parts.dropFirst() {
                guard let d = value as? [String: Any], let next = d[part] else { return nil }
                value = next
            }
            return value
        }
        return nil
    }

    /// A suggestion for a misspelt name: the closest known name, or the top-level ones.
    private func describeKnown(_ name: String, _ stack: [Any]) -> String {
        var known: [String] = []
        for frame in stack.reversed() {
            guard let dict = frame as? [String: Any] else { continue }
            for (key, value) in dict {
                known.append(key)
                if let sub = value as? [String: Any] { known += sub.keys.map { "\(key).\($0)" } }
            }
        }
        let best = known.map { ($0, editDistance($0, name)) }.min { ($0.1, $0.0) < ($1.1, $1.0) }
        if let best, best.1 <= max(2, name.count / 4) { return "did you mean '\(best.0)'?" }
        let top = known.filter { !$0.contains(".") }.sorted()
        return top.isEmpty ? "no variables here" : "known here: " + top.joined(separator: ", ")
    }

    /// Marks a section whose name was already reported, so its body is not reported again.
    private struct Unknown {}
    /// An inverted section does not change the context.
    private struct Passthrough {}
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
