// One complete, validated copy of the menus folder: menu.yaml, the compiled templates and
// the post-install scripts' names. A copy is built whole or not at all, and is never
// changed after, so the server can swap to a new one atomically on reload and every
// request renders from a single consistent copy.

import Foundation
import Mustache
import NetworkAddresses
import YAMLDiagnostics

public struct MenuSet: Sendable {
    public static let menuFileName = "menu.yaml"
    /// Templates every menus folder must have, by role.
    public static let bootstrapTemplate = "bootstrap.ipxe"
    public static let menuTemplate = "menu.ipxe"
    public static let entryTemplate = "entry.ipxe"
    /// The GRUB side (Debian's signed chain for Secure Boot PCs). Optional: a menus folder
    /// without them serves iPXE only, and `check` says so when the signed chain is on.
    public static let grubBootstrapTemplate = "bootstrap.grub"
    public static let grubMenuTemplate = "menu.grub"
    public static let grubEntryTemplate = "entry.grub"
    static let grubTemplates = [grubBootstrapTemplate, grubMenuTemplate, grubEntryTemplate]
    public static var grubTemplateFiles: [String] { grubTemplates.map { $0 + templateExtension } }
    static let templateExtension = ".mustache"
    // Templates write iPXE scripts and preseeds, not HTML: no entity escaping.
    static let textPragma = "{{% CONTENT_TYPE: TEXT}}"

    public let directory: String
    public let menu: BootMenu
    public let images: [String: BootImageFiles]
    private let library: MustacheLibrary
    /// All three GRUB templates are present.
    public let hasGRUBTemplates: Bool

    public var menuFile: String { directory + "/" + Self.menuFileName }
    public var templatesDirectory: String { directory + "/templates" }
    public var postinstallDirectory: String { directory + "/postinstall" }

    /// Reads and checks the whole folder; throws every problem found, each with its
    /// file:line:column.
    public static func load(directory: String, images: [String: BootImageFiles], imagesDirectory: String) throws(SourceDiagnostics) -> MenuSet {
        let fm = FileManager.default
        var diagnostics: [SourceDiagnostic] = []
        let templatesDirectory = directory + "/templates"
        let menuPath = directory + "/" + menuFileName

        var sources: [String: TemplateSource] = [:]
        var library = MustacheLibrary()
        let templateFiles = ((try? fm.contentsOfDirectory(atPath: templatesDirectory)) ?? [])
            .filter { $0.hasSuffix(templateExtension) }.sorted()
        for file in templateFiles {
            let name = String(file.dropLast(templateExtension.count))
            let path = templatesDirectory + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                diagnostics.append(SourceDiagnostic(file: path, line: 1, column: 1, message: "cannot read the template (is it UTF-8 text?)"))
                continue
            }
            do {
                library.register(try MustacheTemplate(string: textPragma + text), named: name)
                sources[name] = TemplateSource(name: name, path: path, text: text)
            } catch let error as MustacheTemplate.ParserError {
                if let unbalanced = SectionBalance.firstProblem(in: text) {
                    // Point at the section tag at fault, not at where the parser gave up.
                    diagnostics.append(SourceDiagnostic(file: path, line: unbalanced.line, column: unbalanced.column, message: "template syntax: \(unbalanced.message)"))
                } else {
                    let line = error.context.lineNumber
                    let column = error.context.columnNumber + 1 - (line == 1 ? textPragma.count : 0)
                    diagnostics.append(SourceDiagnostic(file: path, line: line, column: max(1, column), message: "template syntax: \(describe(error.error))"))
                }
            } catch {
                diagnostics.append(SourceDiagnostic(file: path, line: 1, column: 1, message: "template syntax: \(error)"))
            }
        }
        for required in [bootstrapTemplate, menuTemplate, entryTemplate] where !templateFiles.contains(required + templateExtension) {
            diagnostics.append(SourceDiagnostic(file: templatesDirectory + "/" + required + templateExtension, line: 0, column: 0,
                                                message: "missing template (every menus folder needs \(bootstrapTemplate), \(menuTemplate) and \(entryTemplate))"))
        }

        let postinstall = Set(((try? fm.contentsOfDirectory(atPath: directory + "/postinstall")) ?? []).filter { !$0.hasPrefix(".") })
        let references = MenuReferences(templates: Set(templateFiles.map { String($0.dropLast(templateExtension.count)) }),
                                        postinstallScripts: postinstall, images: images, imagesDirectory: imagesDirectory)
        var menu: BootMenu?
        if let text = try? String(contentsOfFile: menuPath, encoding: .utf8) {
            do throws(SourceDiagnostics) {
                menu = try MenuFile.parse(text, file: menuPath, references: references)
            } catch {
                diagnostics += error.diagnostics
            }
        } else {
            diagnostics.append(SourceDiagnostic(file: menuPath, line: 0, column: 0, message: "cannot read the menu file"))
        }

        if let menu {
            var checker = TemplateNameChecker(sources: sources)
            for (name, role) in templateRoles(menu) {
                checker.check(name, context: sampleContext(role))
            }
            diagnostics += checker.diagnostics
        }
        let grubPresent = grubTemplates.filter { templateFiles.contains($0 + templateExtension) }
        if !grubPresent.isEmpty && grubPresent.count < grubTemplates.count {
            for missing in grubTemplates where !grubPresent.contains(missing) {
                diagnostics.append(SourceDiagnostic(file: templatesDirectory + "/" + missing + templateExtension, line: 0, column: 0,
                                                    message: "missing template (the GRUB side needs \(grubTemplates.joined(separator: ", ")), or none of them)"))
            }
        }
        guard let menu, diagnostics.isEmpty else { throw SourceDiagnostics(diagnostics) }
        return MenuSet(directory: directory, menu: menu, images: images, library: library,
                       hasGRUBTemplates: grubPresent.count == grubTemplates.count)
    }

    private init(directory: String, menu: BootMenu, images: [String: BootImageFiles], library: MustacheLibrary, hasGRUBTemplates: Bool) {
        self.directory = directory
        self.menu = menu
        self.images = images
        self.library = library
        self.hasGRUBTemplates = hasGRUBTemplates
    }

    /// Every template the menu uses, with the role (and so the context) it is rendered in.
    static func templateRoles(_ menu: BootMenu) -> [(String, TemplateRole)] {
        var roles: [(String, TemplateRole)] = [(bootstrapTemplate, .bootstrap), (menuTemplate, .menu), (entryTemplate, .entry),
                                               (grubBootstrapTemplate, .grubBootstrap), (grubMenuTemplate, .grubMenu),
                                               (grubEntryTemplate, .grubEntry)]
        for entry in menu.entries {
            if let t = entry.scriptTemplate { roles.append((t, .entry)) }
            if let t = entry.preseedTemplate { roles.append((t, .preseed)) }
        }
        var seen: Set<String> = []
        return roles.filter { seen.insert("\($0.0)/\($0.1.rawValue)").inserted }
    }

    /// A context with every key a real one has (the builders always set every key).
    static func sampleContext(_ role: TemplateRole) -> [String: Any] {
        let server = ServerSettings(baseURL: "http://192.0.2.1", address: "192.0.2.1", site: "sample")
        let entry = MenuEntry(id: "sample", label: "sample", kind: .debianInstaller, image: "sample", preseedTemplate: "sample",
                              postinstallScript: "sample")
        let menu = BootMenu(title: "sample", timeoutSeconds: 5, defaultEntry: "sample", entries: [entry])
        let machine = MachineIdentity(mac: MACAddress("52:54:00:00:00:01")!, platform: .efi)
        let images = ["sample": BootImageFiles(kernel: "linux", initrd: "initrd.gz")]
        return context(role: role, menu: menu, entry: entry, machine: machine, images: images, server: server)
    }

    static func context(role: TemplateRole, menu: BootMenu, entry: MenuEntry?, machine: MachineIdentity,
                        images: [String: BootImageFiles], server: ServerSettings,
                        installOnce: InstallOnceStatus = .armed, reportToken: String? = nil) -> [String: Any] {
        let style = role.style
        var context: [String: Any] = ["server": TemplateContext.server(server, style: style)]
        if role.isBootstrap { return context }
        var machine = machine
        if role.style == .grub { machine.chain = .secureBootShim }
        let choice = menu.choice(for: machine, status: installOnce, policy: server.installOnce)
        context["machine"] = TemplateContext.machine(machine, choice: choice, server: server, style: style)
        if role != .preseed {
            context["menu"] = TemplateContext.menu(menu, machine: machine, choice: choice, images: images, server: server, style: style)
        }
        if !role.isMenu, let entry {
            context["entry"] = TemplateContext.entry(entry, machine: machine, choice: choice, images: images, server: server, style: style,
                                                     reportToken: reportToken)
        }
        return context
    }

    // MARK: Rendering

    /// The first script, for a machine not yet identified.
    public func renderBootstrap(server: ServerSettings) -> String {
        render(Self.bootstrapTemplate, Self.context(role: .bootstrap, menu: menu, entry: nil, machine: Self.placeholderMachine,
                                                    images: images, server: server), role: .bootstrap)
    }

    /// The menu this machine sees; `installed`: its last install finished (install once).
    public func renderMenu(for machine: MachineIdentity, server: ServerSettings, installed: Bool = false) -> String {
        renderMenu(for: machine, server: server, status: installed ? .installed : .armed)
    }

    /// The menu, knowing what install once decided (or could not decide) for this machine.
    public func renderMenu(for machine: MachineIdentity, server: ServerSettings, status: InstallOnceStatus) -> String {
        render(Self.menuTemplate, Self.context(role: .menu, menu: menu, entry: nil, machine: machine, images: images, server: server,
                                               installOnce: status),
               role: .menu)
    }

    // MARK: GRUB (Debian's signed chain)

    /// grub.cfg, read over TFTP by Debian's signed GRUB before it knows anything else.
    public func renderGRUBBootstrap(server: ServerSettings) -> String? {
        guard hasGRUBTemplates else { return nil }
        return render(Self.grubBootstrapTemplate, Self.context(role: .grubBootstrap, menu: menu, entry: nil, machine: Self.placeholderMachine,
                                                               images: images, server: server), role: .grubBootstrap)
    }

    /// The GRUB menu this machine sees: the iPXE menu's entries, default, timeout, group
    /// and install-once decision, minus the entries only iPXE can run.
    public func renderGRUBMenu(for machine: MachineIdentity, server: ServerSettings, status: InstallOnceStatus) -> String? {
        guard hasGRUBTemplates else { return nil }
        return render(Self.grubMenuTemplate, Self.context(role: .grubMenu, menu: menu, entry: nil, machine: machine, images: images,
                                                          server: server, installOnce: status),
                      role: .grubMenu)
    }

    /// What entry `id` does under GRUB; only entries this machine's GRUB menu shows.
    /// `reportToken`: the install's token, for the PC itself (nil: anyone else reading it).
    public func renderGRUBEntry(_ id: String, for machine: MachineIdentity, server: ServerSettings,
                                reportToken: String? = nil) throws(MenuRenderError) -> String {
        guard hasGRUBTemplates else { throw .noGRUBTemplates }
        guard let entry = menu.entry(id) else { throw .unknownEntry(id) }
        var grubMachine = machine
        grubMachine.chain = .secureBootShim
        guard menu.choice(for: grubMachine).entries.contains(where: { $0.id == id }) else {
            throw .hiddenEntry(id, platform: machine.platform)
        }
        let context = Self.context(role: .grubEntry, menu: menu, entry: entry, machine: grubMachine, images: images, server: server,
                                   reportToken: reportToken)
        return render(Self.grubEntryTemplate, context, role: .grubEntry)
    }

    /// What entry `id` does for this machine; only entries the machine's menu shows.
    /// `reportToken`: the install's token, for the PC itself (nil: anyone else reading it).
    public func renderEntry(_ id: String, for machine: MachineIdentity, server: ServerSettings,
                            reportToken: String? = nil) throws(MenuRenderError) -> String {
        guard let entry = menu.entry(id) else { throw .unknownEntry(id) }
        guard menu.choice(for: machine).entries.contains(where: { $0.id == id }) else {
            throw .hiddenEntry(id, platform: machine.platform)
        }
        let context = Self.context(role: .entry, menu: menu, entry: entry, machine: machine, images: images, server: server,
                                   reportToken: reportToken)
        return render(entry.scriptTemplate ?? Self.entryTemplate, context, role: .entry)
    }

    /// The preseed of entry `id` for this machine (the installer sends only its MAC).
    public func renderPreseed(_ id: String, for machine: MachineIdentity, server: ServerSettings,
                              reportToken: String? = nil) throws(MenuRenderError) -> String {
        guard let entry = menu.entry(id) else { throw .unknownEntry(id) }
        guard let template = entry.preseedTemplate else { throw .noPreseed(id) }
        return render(template, Self.context(role: .preseed, menu: menu, entry: entry, machine: machine, images: images, server: server,
                                             reportToken: reportToken),
                      role: .preseed)
    }

    /// Path of a post-install script, if `name` is one (a plain file name, nothing else).
    public func postinstallScriptPath(_ name: String) -> String? {
        guard !name.isEmpty, !name.hasPrefix("."),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else { return nil }
        let path = postinstallDirectory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { return nil }
        return path
    }

    private func render(_ template: String, _ context: [String: Any], role: TemplateRole) -> String {
        let text = library.render(context, withTemplate: template) ?? ""
        return role.style == .utf8 ? text : ASCIIText.transliterateLines(text)
    }

    private static let placeholderMachine = MachineIdentity(mac: MACAddress("000000000000")!, platform: .bios)
}

public enum MenuRenderError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownEntry(String)
    case hiddenEntry(String, platform: BootPlatform)
    case noPreseed(String)
    case noGRUBTemplates

    public var description: String {
        switch self {
        case .unknownEntry(let id): "no entry '\(id)' in the menu"
        case .hiddenEntry(let id, let platform): "entry '\(id)' is not in this machine's menu (platform \(platform.menuName), or its group hides it)"
        case .noPreseed(let id): "entry '\(id)' has no preseed"
        case .noGRUBTemplates: "the menus folder has no GRUB templates (\(MenuSet.grubTemplates.joined(separator: ", ")))"
        }
    }
}

private func describe(_ error: Error) -> String {
    guard let e = error as? MustacheTemplate.Error else { return "\(error)" }
    switch e {
    case .sectionCloseNameIncorrect: return "the closing tag does not match the open section"
    case .unfinishedName: return "a tag is not closed (missing '}}'?)"
    case .expectedSectionEnd: return "a section is never closed (missing '{{/name}}')"
    case .invalidSetDelimiter: return "malformed set-delimiter tag"
    case .transformAppliedToInheritanceSection: return "a transform cannot apply to an inheritance section"
    case .illegalTokenInsideInheritSection: return "illegal tag inside an inheritance section"
    case .textInsideInheritSection: return "text inside an inheritance section"
    case .invalidConfigVariableSyntax: return "malformed pragma tag"
    case .unrecognisedConfigVariable: return "unknown pragma"
    }
}
