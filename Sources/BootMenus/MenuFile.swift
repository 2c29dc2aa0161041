// Reads `menu.yaml` into a `BootMenu`, reporting every mistake as file:line:column, and
// checks every name it refers to (entries, groups, images, templates, post-install
// scripts) against what exists, so a typo is caught by `garage-pxe check`, not at a PC.

import NetworkAddresses
import YAMLDiagnostics

/// Kernel and initrd file names of one netboot image (from the image's metadata).
public struct BootImageFiles: Sendable, Equatable {
    public var kernel: String
    public var initrd: String

    public init(kernel: String, initrd: String) {
        self.kernel = kernel
        self.initrd = initrd
    }
}

/// What the menu file may refer to; gathered by the caller from the folders.
public struct MenuReferences: Sendable {
    /// Template names (file names under templates/ without `.mustache`).
    public var templates: Set<String>
    /// File names under postinstall/.
    public var postinstallScripts: Set<String>
    /// Images by folder name.
    public var images: [String: BootImageFiles]
    /// Shown in the "missing image" message.
    public var imagesDirectory: String

    public init(templates: Set<String>, postinstallScripts: Set<String>, images: [String: BootImageFiles], imagesDirectory: String) {
        self.templates = templates
        self.postinstallScripts = postinstallScripts
        self.images = images
        self.imagesDirectory = imagesDirectory
    }
}

public enum MenuFile {
    /// Parses and cross-checks `text` (the contents of `file`).
    public static func parse(_ text: String, file: String, references: MenuReferences) throws(SourceDiagnostics) -> BootMenu {
        let sink = YAMLDiagnosticSink(file: file)
        guard let root = sink.compose(text) else {
            if sink.diagnostics.isEmpty { sink.error("the menu file is empty: it needs at least 'default' and 'entries'", at: nil) }
            throw SourceDiagnostics(sink.diagnostics)
        }
        guard let top = YAMLMappingReader(root, path: "", sink: sink) else { throw SourceDiagnostics(sink.diagnostics) }
        let reader = Reader(sink: sink, references: references)
        let menu = reader.read(top)
        top.finish()
        if !sink.diagnostics.isEmpty { throw SourceDiagnostics(sink.diagnostics) }
        return menu
    }
}

/// Entry and group ids appear in URLs and iPXE labels: keep them to a safe alphabet.
func isValidIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, s.count <= 64 else { return false }
    let allowed = { (c: Unicode.Scalar) in (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-" || c == "_" || c == "." }
    return allowed(first) && first != "." && first != "-" && s.unicodeScalars.allSatisfy(allowed)
}

/// One DNS label (RFC 1123): what Debian accepts as a hostname.
func isValidHostname(_ s: String) -> Bool {
    guard (1...63).contains(s.count), s.first != "-", s.last != "-" else { return false }
    return s.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
}

/// Normalises a MAC prefix of one to five octets ("00:e0:4c" → "00e04c").
func parseMACPrefix(_ text: String) -> String? {
    MACAddress.prefix(text, octets: 1...5).map { hexString($0) }
}

private struct Reader {
    let sink: YAMLDiagnosticSink
    let references: MenuReferences

    func read(_ top: YAMLMappingReader) -> BootMenu {
        let title = top.string("title") ?? "garage-pxe"
        let timeout = top.int("timeout", in: 0...3600) ?? 10
        let defaultEntry = top.string("default")
        var entries: [MenuEntry] = []
        var entryMarks: [String: Mark?] = [:]
        if let list = top.mappingList("entries") {
            for item in list {
                guard let entry = readEntry(item) else { continue }
                if entryMarks[entry.id] != nil {
                    sink.error("entry id '\(entry.id)' is used twice", at: item.markOf("id"))
                    continue
                }
                entryMarks[entry.id] = item.markOf("id")
                entries.append(entry)
            }
            if list.isEmpty { sink.error("'entries' must list at least one entry", at: top.markOf("entries")) }
        } else {
            sink.error("the menu needs 'entries' (a list of menu entries)", at: top.mark)
        }
        let ids = Set(entries.map(\.id))
        func requireEntry(_ id: String, what: String, at mark: Mark?) {
            guard !entries.isEmpty, !ids.contains(id) else { return }
            sink.error("\(what) '\(id)' is not an entry id (entries: \(entries.map(\.id).joined(separator: ", ")))", at: mark)
        }
        if let defaultEntry {
            requireEntry(defaultEntry, what: "default entry", at: top.markOf("default"))
            if entries.first(where: { $0.id == defaultEntry })?.kind == .diagnosticErase {
                sink.error("the menu's default '\(defaultEntry)' erases every disk: it may be the default only of a group or of a machine (their 'default'), never of every PC", at: top.markOf("default"))
            }
        } else {
            sink.error("the menu needs 'default' (the id of the entry booted when the timeout expires)", at: top.mark)
        }

        var groups: [MachineGroup] = []
        for item in top.mappingList("groups") ?? [] {
            guard let group = readGroup(item, requireEntry: requireEntry) else { continue }
            if groups.contains(where: { $0.id == group.id }) {
                sink.error("group id '\(group.id)' is used twice", at: item.markOf("id"))
                continue
            }
            groups.append(group)
        }

        var machines: [MACAddress: MachineOverride] = [:]
        for (key, keyMark, item) in top.keyedMappings("machines") ?? [] {
            let machine = readMachine(item, groups: groups, requireEntry: requireEntry)
            item.finish()
            guard let mac = MACAddress(key) else {
                sink.error("machine key '\(key)' is not a MAC address such as 52:54:00:12:34:56", at: keyMark)
                continue
            }
            if machines[mac] != nil {
                sink.error("machine \(mac) is listed twice", at: keyMark)
                continue
            }
            machines[mac] = machine
        }
        return BootMenu(title: title, timeoutSeconds: timeout, defaultEntry: defaultEntry ?? "", entries: entries,
                        groups: groups, machines: machines)
    }

    func readEntry(_ item: YAMLMappingReader) -> MenuEntry? {
        defer { item.finish() }
        let id = item.string("id")
        let label = item.string("label")
        let kindText = item.string("kind")
        if id == nil { sink.error("'\(item.path)' needs an 'id'", at: item.mark) }
        if label == nil { sink.error("'\(item.path)' needs a 'label' (the text shown in the menu)", at: item.mark) }
        if let id, !isValidIdentifier(id) {
            sink.error("entry id '\(id)' may contain only a-z, 0-9, '-', '_' and '.' (it appears in URLs)", at: item.markOf("id"))
        }
        var kind: EntryKind?
        if let kindText {
            kind = EntryKind(rawValue: kindText)
            if kind == nil {
                sink.error("'\(item.qualified("kind"))' must be one of: \(EntryKind.allCases.map(\.rawValue).joined(separator: ", ")), found '\(kindText)'", at: item.markOf("kind"))
            }
        } else {
            sink.error("'\(item.path)' needs a 'kind' (\(EntryKind.allCases.map(\.rawValue).joined(separator: ", ")))", at: item.mark)
        }
        let image = item.string("image")
        let kernelArguments = item.string("kernel_args") ?? ""
        let preseed = item.string("preseed")
        let postinstall = item.string("postinstall")
        let template = item.string("template")
        let url = item.string("url")
        let countdown = item.int("countdown", in: 5...3600)
        var platforms = Set(BootPlatform.allCases)
        if let list = item.stringList("platforms") {
            platforms = []
            for (value, mark) in list {
                guard let platform = BootPlatform(name: value) else {
                    sink.error("'\(item.qualified("platforms"))' items must be bios or efi, found '\(value)'", at: mark)
                    continue
                }
                platforms.insert(platform)
            }
            if list.isEmpty { sink.error("'\(item.qualified("platforms"))' must name bios, efi or both", at: item.markOf("platforms")) }
        }
        if kernelArguments.contains(where: \.isNewline) {
            sink.error("'\(item.qualified("kernel_args"))' must be on one line", at: item.markOf("kernel_args"))
        }

        if let kind {
            // Keys that mean nothing for this kind are mistakes, not silent no-ops.
            let linuxOnly: [(String, String?)] = [("image", image), ("kernel_args", kernelArguments.isEmpty ? nil : kernelArguments)]
            if !kind.bootsLinux {
                for (key, value) in linuxOnly where value != nil {
                    sink.error("'\(item.qualified(key))' applies only to debian-installer and diagnostic entries, not \(kind.rawValue)", at: item.markOf(key))
                }
            }
            if kind != .debianInstaller {
                for (key, value) in [("preseed", preseed), ("postinstall", postinstall)] where value != nil {
                    sink.error("'\(item.qualified(key))' applies only to debian-installer entries, not \(kind.rawValue)", at: item.markOf(key))
                }
            }
            if kind != .diagnosticErase, countdown != nil {
                sink.error("'\(item.qualified("countdown"))' applies only to diagnostic-erase entries", at: item.markOf("countdown"))
            }
            if kind != .chainURL, url != nil {
                sink.error("'\(item.qualified("url"))' applies only to chain-url entries", at: item.markOf("url"))
            }
            switch kind {
            case .debianInstaller where image == nil, .diagnostic where image == nil, .diagnosticErase where image == nil:
                sink.error("'\(item.path)' is a \(kind.rawValue) entry and needs an 'image'", at: item.mark)
            case .chainURL:
                if let url {
                    if !(url.hasPrefix("http://") || url.hasPrefix("https://")) || url.contains(where: { $0.isWhitespace }) {
                        sink.error("'\(item.qualified("url"))' must be an http:// or https:// URL without spaces, found '\(url)'", at: item.markOf("url"))
                    }
                } else {
                    sink.error("'\(item.path)' is a chain-url entry and needs a 'url'", at: item.mark)
                }
            case .ipxeScript where template == nil:
                sink.error("'\(item.path)' is an ipxe-script entry and needs a 'template' (a file in templates/)", at: item.mark)
            default:
                break
            }
        }
        // A diagnostic image is built on the server (`garage-pxe import wipe`): until then its
        // entries are left out of the menus (check warns), the rest of the menu works.
        let imageImported = image.map { references.images[$0] != nil } ?? true
        if let image, !imageImported, !(kind?.isDiagnostic ?? false) {
            let known = references.images.keys.sorted()
            sink.error("image '\(image)' is not in \(references.imagesDirectory) (\(known.isEmpty ? "no images yet: import one with 'garage-pxe import debian'" : "images: " + known.joined(separator: ", ")))", at: item.markOf("image"))
        }
        for (key, name) in [("preseed", preseed), ("template", template)] {
            if let name, !references.templates.contains(name) {
                sink.error("template '\(name)' does not exist (expected the file templates/\(name).mustache)", at: item.markOf(key))
            }
        }
        if let postinstall, !references.postinstallScripts.contains(postinstall) {
            sink.error("post-install script '\(postinstall)' does not exist (expected the file postinstall/\(postinstall))", at: item.markOf("postinstall"))
        }
        guard let id, let label, let kind else { return nil }
        return MenuEntry(id: id, label: label, kind: kind, image: image, kernelArguments: kernelArguments,
                         preseedTemplate: preseed, postinstallScript: postinstall, scriptTemplate: template,
                         chainURL: url, platforms: platforms, countdownSeconds: countdown ?? MenuEntry.defaultCountdownSeconds,
                         imageImported: imageImported)
    }

    func readGroup(_ item: YAMLMappingReader, requireEntry: (String, String, Mark?) -> Void) -> MachineGroup? {
        defer { item.finish() }
        let id = item.string("id")
        if id == nil { sink.error("'\(item.path)' needs an 'id'", at: item.mark) }
        if let id, !isValidIdentifier(id) {
            sink.error("group id '\(id)' may contain only a-z, 0-9, '-', '_' and '.'", at: item.markOf("id"))
        }
        var match = GroupMatch()
        if let m = item.mapping("match") {
            for (value, mark) in m.stringList("macs") ?? [] {
                if let mac = MACAddress(value) { match.macs.insert(mac) } else {
                    sink.error("'\(m.qualified("macs"))' item '\(value)' is not a MAC address such as 52:54:00:12:34:56", at: mark)
                }
            }
            for (value, mark) in m.stringList("mac_prefixes") ?? [] {
                if let prefix = parseMACPrefix(value) { match.macPrefixes.append(prefix) } else {
                    sink.error("'\(m.qualified("mac_prefixes"))' item '\(value)' is not a MAC prefix such as 00:e0:4c", at: mark)
                }
            }
            match.manufacturer = m.string("manufacturer")
            match.product = m.string("product")
            m.finish()
            if match.macs.isEmpty, match.macPrefixes.isEmpty, match.manufacturer == nil, match.product == nil {
                sink.error("'\(m.path)' matches nothing: give macs, mac_prefixes, manufacturer or product", at: m.mark)
            }
        }
        let defaultEntry = item.string("default")
        if let defaultEntry { requireEntry(defaultEntry, "default entry", item.markOf("default")) }
        let timeout = item.int("timeout", in: 0...3600)
        var entries: [String]?
        if let list = item.stringList("entries") {
            entries = list.map(\.value)
            for (value, mark) in list { requireEntry(value, "entry", mark) }
        }
        let kernelArguments = item.string("kernel_args") ?? ""
        guard let id else { return nil }
        return MachineGroup(id: id, match: match, defaultEntry: defaultEntry, timeoutSeconds: timeout, entries: entries,
                            kernelArguments: kernelArguments)
    }

    func readMachine(_ item: YAMLMappingReader, groups: [MachineGroup], requireEntry: (String, String, Mark?) -> Void) -> MachineOverride {
        let group = item.string("group")
        if let group, !groups.contains(where: { $0.id == group }) {
            sink.error("group '\(group)' is not defined under 'groups'\(groups.isEmpty ? "" : " (groups: \(groups.map(\.id).joined(separator: ", ")))")", at: item.markOf("group"))
        }
        let defaultEntry = item.string("default")
        if let defaultEntry { requireEntry(defaultEntry, "default entry", item.markOf("default")) }
        let hostname = item.string("hostname")
        if let hostname, !isValidHostname(hostname) {
            sink.error("hostname '\(hostname)' must be 1 to 63 letters, digits or '-', not starting or ending with '-'", at: item.markOf("hostname"))
        }
        let note = item.string("note")
        return MachineOverride(group: group, defaultEntry: defaultEntry, hostname: hostname, note: note)
    }
}
