// The command line. Thin on purpose: parse flags, call into Daemon, print, exit.

import ArgumentParser
import BootMenus
import DHCP
import Daemon
import Images
import InstallJournal
import MachineRecords
import Foundation
import Logging
import NetworkAddresses

@main
struct GaragePXECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "garage-pxe",
        abstract: "Network-install boot server for a refurbishment workshop: proxyDHCP, TFTP, iPXE menus, install journal.",
        subcommands: [Serve.self, Check.self, Render.self, ImagesCommand.self, Import.self, Machines.self, History.self, Rearm.self,
                      Certificate.self, Verify.self],
        defaultSubcommand: nil)
}

/// Flags shared by every command that reads the configuration; each wins over the file.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: /etc/garage-pxe/garage-pxe.yaml, else the repository's config/garage-pxe.yaml).")
    var config: String?

    @Option(name: .long, help: "Interface facing the bench LAN, or 'auto'.")
    var interface: String?

    @Option(name: .long, help: "Server IPv4 address given to clients (default: the interface's).")
    var address: String?

    @Option(name: .customLong("http-port"), help: "HTTP port for iPXE scripts and images.")
    var httpPort: Int?

    @Option(name: .customLong("tftp-root"), help: "Folder served over TFTP (boot loaders).")
    var tftpRoot: String?

    @Option(name: .long, help: "Folder of the menu YAML and templates.")
    var menus: String?

    @Option(name: .long, help: "Folder of the netboot images.")
    var images: String?

    @Option(name: .long, help: "User to run as after binding the ports, when started as root.")
    var user: String?

    @Option(name: .long, help: "Folder of the daemon's durable state (install once's install-once.json).")
    var state: String?

    var overrides: ConfigOverrides {
        ConfigOverrides(interface: interface, address: address, httpPort: httpPort, tftpRoot: tftpRoot,
                        menusDirectory: menus, imagesDirectory: images, user: user, stateDirectory: state)
    }

    var path: String { config ?? GaragePXEConfig.defaultPath() }

    func load() throws -> GaragePXEConfig {
        do {
            return try GaragePXEConfig.load(path: path, overrides: overrides)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the boot server (as a systemd service or by hand).")

    @OptionGroup var options: ConfigOptions

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Where install events go: 'journal' (systemd journal, structured), 'log' (log lines on stderr only: install once and the record are off), or 'auto' (the journal whenever it is reachable, started by systemd or by hand).")
    var events: String = "auto"

    func run() throws {
        let toJournal: Bool
        switch events {
        case "journal": toJournal = true
        case "log": toJournal = false
        case "auto": toJournal = JournalWriter.standardErrorIsJournal() || JournalWriter.journalReachable()
        default: throw ValidationError("--events must be journal, log or auto")
        }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level) }
        let config = try options.load()
        let problems = config.environmentProblems()
        let logger = Logger(label: "garage-pxe")
        for w in problems.warnings { logger.warning("\(w)") }
        if toJournal, !JournalWriter.standardErrorIsJournal(), !JournalWriter.journalReachable() {
            logger.error("--events journal: journald is not reachable now (/run/systemd/journal/socket); install events wait in memory for it (up to 10 000), then fall back to stderr")
        }
        guard problems.errors.isEmpty else {
            for e in problems.errors { FileHandle.standardError.write(Data("\(options.path): error: \(e)\n".utf8)) }
            throw ExitCode(1)
        }
        do {
            let daemon = try GaragePXEDaemon(configPath: options.path, overrides: options.overrides, config: config, logger: logger,
                                         journal: toJournal ? JournalWriter() : nil)
            try daemon.runUntilStopped()
        } catch {
            FileHandle.standardError.write(Data("garage-pxe: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the configuration and exit non-zero on any error.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.load()
        let problems = config.environmentProblems()
        for w in problems.warnings { print("\(options.path): warning: \(w)") }
        for e in problems.errors { FileHandle.standardError.write(Data("\(options.path): error: \(e)\n".utf8)) }
        let (images, imageProblems) = BootContentLoader.images(config)
        for p in imageProblems { print("warning: \(p)") }
        var menus: MenuSet?
        do {
            menus = try BootContentLoader.menus(config, images: images)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
        }
        if let menus, let warning = BootContentLoader.installOnceProblem(config, menu: menus.menu) { print("\(options.path): warning: \(warning)") }
        for entry in menus?.menu.entries ?? [] where !entry.imageImported {
            print("\(menus?.menuFile ?? options.path): warning: entry '\(entry.id)' is left out of the menus: image '\(entry.image ?? "")' is not in \(config.imagesDirectory) (build it with 'garage-pxe import wipe')")
        }
        // The GRUB side, as the iPXE side: the templates exist and GRUB parses what they render.
        var grubErrors: [String] = []
        if let menus, config.bootfiles.usesSignedChain {
            if !menus.hasGRUBTemplates {
                grubErrors.append("bootfiles.efi is signed but \(menus.templatesDirectory) has no GRUB templates (\(MenuSet.grubTemplateFiles.joined(separator: ", "))): UEFI PCs would get no menu")
            } else if let checker = GRUBScriptCheck.checker {
                let server = BootContentLoader.serverSettings(config, address: config.address ?? IPv4Address(192, 0, 2, 1),
                                                              proxy: InstallerProxy.Decision(url: nil, reason: "not asked"))
                grubErrors += GRUBScriptCheck.problems(menus, server: server, checker: checker)
            } else {
                print("\(options.path): warning: grub-script-check (package grub-common) is not installed: the GRUB menus were rendered but not parsed")
            }
        }
        for e in grubErrors { FileHandle.standardError.write(Data("\(menus?.templatesDirectory ?? options.path): error: \(e)\n".utf8)) }
        // What the daemon would decide at start, asked the same way (auto: is apt-cacher-ng
        // answering on this server's address?), said even when something else is wrong.
        var network = "interface \(config.interface)"
        var address = config.address
        if let resolved = try? config.resolveNetwork() {
            network = "interface \(resolved.interface.name), address \(resolved.address)"
            address = resolved.address
        }
        if let address {
            let proxy = InstallerProxy.decide(config.installer.proxy, serverAddress: address.description)
            print("installer proxy: \(proxy.url ?? "none") (\(proxy.reason))")
        } else {
            print("installer proxy: not decided: the server's address is unknown (\(network)); give it with --address")
        }
        if !problems.errors.isEmpty || menus == nil || !grubErrors.isEmpty { throw ExitCode(1) }
        print("\(options.path): OK (\(network), http port \(config.httpPort), tftp root \(config.tftpRoot))")
        if let menus {
            print("\(menus.menuFile): OK (\(menus.menu.entries.count) entries, \(menus.menu.groups.count) groups, \(menus.menu.machines.count) machines, \(images.count) images)")
        }
    }
}

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print exactly what one machine gets: its menu, an entry's script, or an entry's preseed.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "The machine's MAC address.")
    var mac: String

    @Option(help: "Firmware: bios (pcbios) or efi.")
    var platform: String = "bios"

    @Option(help: "Render this entry's script instead of the menu.")
    var entry: String?

    @Flag(help: "With --entry: render the entry's preseed instead of its script.")
    var preseed = false

    @Option(help: "The boot loader asking: ipxe, or grub (Debian's signed chain for UEFI PCs, Secure Boot on or off).")
    var loader: String = "ipxe"

    @Flag(help: "With --loader grub: print grub.cfg, what GRUB reads over TFTP before it knows the machine.")
    var grubCfg = false

    @Option(help: "DMI manufacturer, as iPXE would report it (for group matching).")
    var manufacturer: String?
    @Option(help: "DMI product name.")
    var product: String?
    @Option(help: "DMI serial number.")
    var serial: String?
    @Option(help: "SMBIOS UUID.")
    var uuid: String?
    @Option(help: "The machine's IPv4 address.")
    var ip: String?
    @Option(help: "iPXE build architecture (x86_64, i386, arm64).")
    var buildarch: String?

    @Flag(help: "Render the menu as for a machine whose install finished (install once), without asking the journal.")
    var installed = false

    @Option(name: .customLong("journal-directory"), help: "Ask these journal folders, not the local journal, whether the machine is installed; repeatable.")
    var journalDirectory: [String] = []

    func run() throws {
        let config = try options.load()
        var query = ["mac": mac, "platform": platform]
        for (key, value) in [("manufacturer", manufacturer), ("product", product), ("serial", serial), ("uuid", uuid), ("ip", ip), ("buildarch", buildarch)] {
            if let value { query[key] = value }
        }
        let machine: MachineIdentity
        do {
            machine = try MachineIdentity(query: query)
        } catch {
            throw ValidationError("\(error)".replacingOccurrences(of: "query parameter", with: "option"))
        }
        if preseed && entry == nil { throw ValidationError("--preseed needs --entry") }
        guard let chain = ["ipxe": BootChain.ipxe, "grub": .secureBootShim][loader] else { throw ValidationError("--loader must be ipxe or grub") }
        if grubCfg && chain != .secureBootShim { throw ValidationError("--grub-cfg needs --loader grub") }
        let address: IPv4Address
        if let a = config.address {
            address = a
        } else {
            do {
                address = try config.resolveNetwork().address
            } catch {
                FileHandle.standardError.write(Data("garage-pxe: \(error); give the server address with --address\n".utf8))
                throw ExitCode(1)
            }
        }
        let menus: MenuSet
        let server = BootContentLoader.serverSettings(config, address: address,
                                                      proxy: InstallerProxy.decide(config.installer.proxy, serverAddress: address.description))
        do {
            menus = try BootContentLoader.menus(config, images: BootContentLoader.images(config).images)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
        let installed = config.installOnce.enabled && entry == nil && !grubCfg
            && (self.installed || Self.installedPerJournal(machine.mac.description, journalDirectory, stateDirectory: config.stateDirectory))
        do {
            if chain == .secureBootShim && !preseed {
                if grubCfg {
                    guard let text = menus.renderGRUBBootstrap(server: server) else { throw MenuRenderError.noGRUBTemplates }
                    print(text, terminator: "")
                } else if let entry {
                    print(try menus.renderGRUBEntry(entry, for: machine, server: server), terminator: "")
                } else {
                    guard let text = menus.renderGRUBMenu(for: machine, server: server, status: installed ? .installed : .armed) else {
                        throw MenuRenderError.noGRUBTemplates
                    }
                    print(text, terminator: "")
                }
            } else if let entry {
                print(preseed ? try menus.renderPreseed(entry, for: machine, server: server)
                              : try menus.renderEntry(entry, for: machine, server: server), terminator: "")
            } else {
                print(menus.renderMenu(for: machine, server: server, installed: installed), terminator: "")
            }
        } catch {
            FileHandle.standardError.write(Data("garage-pxe: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension Render {
    /// The daemon's install-once decision, from the journal and (for the local journal) the
    /// daemon's state file, the newer of the two; says on stderr what it found.
    static func installedPerJournal(_ mac: String, _ directories: [String], stateDirectory: String) -> Bool {
        var fromFile: InstallOnceEntry?
        if directories.isEmpty {
            do throws(InstallOnceStoreError) {
                fromFile = try InstallOnceStore(directory: stateDirectory).load()?.machines[mac]
            } catch {
                FileHandle.standardError.write(Data("garage-pxe: warning: install once: \(error)\n".utf8))
            }
        }
        func say(_ source: String, _ what: String, _ microseconds: UInt64, _ installed: Bool) -> Bool {
            FileHandle.standardError.write(Data("garage-pxe: \(source): \(what) at \(formatTime(microseconds)): \(installed ? "installed, the menu defaults to the local disk (garage-pxe rearm \(mac) arms the installer)" : "armed, the menu has its usual default")\n".utf8))
            return installed
        }
        let fileAnswer = { (entry: InstallOnceEntry) in say("state file", entry.installed ? "installed" : "armed", entry.microseconds, entry.installed) }
        do throws(JournalReadError) {
            let record = try InstallOnceState.latestDecidingEvent(mac: mac, directories: directories)
            if let record, let kind = record.kind, record.realtimeMicroseconds >= fromFile?.microseconds ?? 0 {
                return say("journal", kind.rawValue, record.realtimeMicroseconds, InstallOnceState.isInstalled(after: kind))
            }
            return fromFile.map(fileAnswer) ?? false
        } catch {
            if let fromFile { return fileAnswer(fromFile) }
            FileHandle.standardError.write(Data("garage-pxe: warning: \(error); rendering as not installed (or pass --installed)\n".utf8))
            return false
        }
    }
}

struct Rearm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Arm a machine's install again: its next network boot defaults to the installer (install once).",
        discussion: """
            Sends POST /rearm to the running daemon with the admin token of the state folder             (paths.state/admin-token, readable by root only: run it as root). With no daemon             answering, writes the machine.rearmed event to the journal, which the daemon reads at its next start.
            """)

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The machine's MAC address.")
    var mac: String

    func run() throws {
        guard let machine = MACAddress(mac) else { throw ValidationError("'\(mac)' is not a MAC address such as 52:54:00:12:34:56") }
        let config = try options.load()
        func fail(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("garage-pxe: \(message)\n".utf8))
            return ExitCode(1)
        }
        let token: AdminToken
        do throws(AdminTokenError) {
            token = try AdminToken.read(directory: config.stateDirectory)
        } catch {
            throw fail("\(error)")
        }
        var answer: (status: Int, body: String)?
        do throws(AdminClientError) {
            answer = try AdminClient.post(host: AdminClient.host(for: config), port: Int(config.httpPort),
                                          target: "/rearm?mac=\(machine)&by=cli", token: token.text)
        } catch .notListening(let why) {
            FileHandle.standardError.write(Data("garage-pxe: \(why); writing the journal directly (the daemon reads it at its next start)\n".utf8))
        } catch {
            throw fail("\(error)")
        }
        if let (status, body) = answer {
            let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
            guard status == 200 else { throw fail("the daemon refused (HTTP \(status)): \(text)") }
            print(text)
            return
        }
        let writer = JournalWriter()
        writer.write(InstallEvent(.machineRearmed, fields: [.mac: machine.description, .site: config.site, .reason: "garage-pxe rearm"]))
        writer.flush()
        guard writer.fallbackEvents == 0 else {
            FileHandle.standardError.write(Data("garage-pxe: the journal could not be written: \(machine) is not rearmed\n".utf8))
            throw ExitCode(1)
        }
        print("\(machine): rearmed, its next network boot defaults to the installer")
    }
}

struct ImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "images", abstract: "List the netboot images.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.load()
        let (images, problems) = BootContentLoader.images(config)
        if images.isEmpty { print("no images in \(config.imagesDirectory) (import one with: garage-pxe import debian SRC)") }
        for image in images {
            let m = image.metadata
            let size = m.files.values.reduce(0) { $0 + $1.size }
            let build = m.installerBuild.map { " build \($0)" } ?? ""
            let verified = m.verifiedAgainstSHA256SUMS ? ", checked against SHA256SUMS" : ""
            print("\(image.name)\t\(m.distribution) \(m.release) \(m.architecture)\(build)\t\(m.kernel) + \(m.initrd)\t\(size / 1_048_576) MiB\(verified)")
        }
        for p in problems { FileHandle.standardError.write(Data("warning: \(p)\n".utf8)) }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a netboot image to the images folder.", subcommands: [ImportDebian.self, ImportWipe.self])
}

struct ImportDebian: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debian",
        abstract: "Import Debian's netboot installer: the debian-installer-12-netboot-amd64 package tree or a netboot.tar.gz.",
        discussion: "Example: garage-pxe import debian /usr/lib/debian-installer/images/12/amd64/text")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The package's image folder (…/images/12/amd64/text) or a netboot.tar.gz.")
    var source: String

    @Option(help: "Image folder name (default: debian-RELEASE-ARCH).")
    var name: String?

    @Option(name: .customLong("sha256sums"), help: "A SHA256SUMS file to check the files (or the archive) against.")
    var sha256sums: String?

    func run() throws {
        let config = try options.load()
        do {
            let image = try DebianImport(source: source, imagesDirectory: config.imagesDirectory, name: name, sha256sumsFile: sha256sums).run()
            let m = image.metadata
            print("imported \(image.name): debian \(m.release) \(m.architecture)\(m.installerBuild.map { " (build \($0))" } ?? "") into \(image.directory)\(m.verifiedAgainstSHA256SUMS ? ", checksums verified" : "")")
        } catch {
            FileHandle.standardError.write(Data("garage-pxe: import failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Options shared by the journal queries.
struct JournalOptions: ParsableArguments {
    @Option(name: .long, help: "Read journal files from this folder (e.g. what systemd-journal-remote collected from several sites); repeatable. Default: the local journal.")
    var directory: [String] = []

    @Flag(name: .long, help: "JSON instead of a table.")
    var json = false
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func readJournal<T>(_ body: () throws(JournalReadError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        FileHandle.standardError.write(Data("garage-pxe: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

func formatTime(_ microseconds: UInt64) -> String {
    let formatter = ISO8601DateFormatter()
    return formatter.string(from: Date(timeIntervalSince1970: Double(microseconds) / 1e6))
}

struct Machines: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One row per machine seen: serial, model, last stage, elapsed time, result, installs.")

    @OptionGroup var journal: JournalOptions

    @Option(name: .long, help: "Only events since: an ISO 8601 time, or hours ago such as '24h'.")
    var since: String?

    @Option(name: .long, help: "Only events of this site (GARAGE_PXE_SITE).")
    var site: String?

    @Flag(name: .long, help: "One CSV row per PC (the per-PC record: identity, health grade, erase, install, delivered), all time unless --since.")
    var csv = false

    func run() throws {
        var query = JournalQuery(directories: journal.directory)
        if let since {
            if since.hasSuffix("h"), let hours = Double(since.dropLast()) {
                query.since = Date().addingTimeInterval(-hours * 3600)
            } else if let date = ISO8601DateFormatter().date(from: since) {
                query.since = date
            } else {
                throw ValidationError("--since must be an ISO 8601 time (2025-01-31T08:00:00Z) or hours ago (24h)")
            }
        }
        if let site { query.matches[.site] = site }
        if csv {
            let records = MachineRecords.fold(try readJournal { () throws(JournalReadError) in try JournalReader.read(query) })
            return FileHandle.standardOutput.write(Data(MachineCSV.document(records).utf8))
        }
        let rows = MachineSummary.summarize(try readJournal { () throws(JournalReadError) in try JournalReader.read(query) })
        if journal.json { return try printJSON(rows) }
        print(["MAC", "SERIAL", "MODEL", "LAST STAGE", "STARTED", "ELAPSED", "RESULT", "INSTALLS", "WHY"].joined(separator: "\t"))
        for r in rows {
            let model = [r.manufacturer, r.product].compactMap { $0 }.joined(separator: " ")
            let stage = r.lastStage + (r.lastStep.map { " (\($0))" } ?? "")
            // Serial, model and step come from the PCs: escaped, so a tab or an ESC in them
            // cannot add a column or drive the admin's terminal.
            print([r.mac, r.serial ?? "-", model.isEmpty ? "-" : model, stage, formatTime(r.startedMicroseconds),
                   "\(Int(r.elapsedSeconds))s", r.result, "\(r.installCount)", Self.why(r)].map(LogText.escaped).joined(separator: "\t"))
        }
    }
}

extension Machines {
    /// What a person at the bench must know about the row: why its installer is stuck
    /// (the bench page says the same words).
    static func why(_ row: MachineSummary) -> String {
        guard row.result == "stalled" else { return "-" }
        return "bloqué : " + (row.stalledReason.flatMap { $0.isEmpty ? nil : $0 } ?? "raison inconnue")
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The events of one machine, oldest first: intake, inventory, erase, install, delivery.")

    @Argument(help: "The machine's MAC address, DMI serial, or one of its disks' serials.")
    var machine: String

    @OptionGroup var journal: JournalOptions

    @Flag(name: .long, help: "Start with one line of the PC's record: its names, health grade, erase, install and delivery.")
    var summary = false

    func run() throws {
        // The per-PC record ties every name of the PC together (its other NICs, its disks);
        // a name it does not know still gets the journal's direct matches.
        let record = MachineRecords.find(machine, in: try machineRecords(directories: journal.directory))
        let records = try record?.events
            ?? readJournal { () throws(JournalReadError) in try JournalReader.history(of: machine, directories: journal.directory) }
        if journal.json { return try printJSON(records) }
        if summary, let record {
            let health = record.health.map { "health \($0.grade.rawValue)" + ($0.reasons.isEmpty ? "" : " (\($0.reasons.joined(separator: "; ")))") } ?? "health -"
            print(LogText.escaped("machine \(record.key) \([record.manufacturer, record.product].compactMap { $0 }.joined(separator: " ")) macs \(record.macs.joined(separator: ",")) \(health); erase \(record.eraseResult.rawValue); install \(record.installResult); delivered \(record.delivered ? "yes" : "no")"))
        }
        for r in records {
            // The journal keeps the PCs' text exactly (file names, steps, reasons); one event
            // is printed as one escaped line.
            let extras = [InstallField.entry, .step, .stage, .file, .bytes, .installID, .cpuModel, .memoryBytes, .diskSerials,
                          .healthGrade, .diskSerial, .wipeMethod, .verification, .reason].compactMap { f in
                r[f].map { "\(f.rawValue.dropFirst(11).lowercased())=\(LogText.escaped($0))" }
            }
            print(([formatTime(r.realtimeMicroseconds), r.kind?.rawValue ?? "-"] + extras).joined(separator: " "))
        }
        if records.isEmpty {
            FileHandle.standardError.write(Data("garage-pxe: no events for \(machine)\n".utf8))
            throw ExitCode(1)
        }
    }
}
