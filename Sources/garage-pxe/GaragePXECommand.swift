// The command line. Thin on purpose: parse flags, call into Daemon, print, exit.

import ArgumentParser
import Daemon
import Foundation
import Logging

@main
struct GaragePXECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "garage-pxe",
        abstract: "Network-install boot server for a refurbishment workshop: proxyDHCP, TFTP, iPXE menus, install journal.",
        subcommands: [Serve.self, Check.self],
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

    var overrides: ConfigOverrides {
        ConfigOverrides(interface: interface, address: address, httpPort: httpPort, tftpRoot: tftpRoot,
                        menusDirectory: menus, imagesDirectory: images, user: user)
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

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level must be one of: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level) }
        let config = try options.load()
        let problems = config.environmentProblems()
        let logger = Logger(label: "garage-pxe")
        for w in problems.warnings { logger.warning("\(w)") }
        guard problems.errors.isEmpty else {
            for e in problems.errors { FileHandle.standardError.write(Data("\(options.path): error: \(e)\n".utf8)) }
            throw ExitCode(1)
        }
        do {
            let daemon = try GaragePXEDaemon(configPath: options.path, overrides: options.overrides, config: config, logger: logger)
            try daemon.run()
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
        if !problems.errors.isEmpty { throw ExitCode(1) }
        var network = "interface \(config.interface)"
        if let resolved = try? config.resolveNetwork() {
            network = "interface \(resolved.interface.name), address \(resolved.address)"
        }
        print("\(options.path): OK (\(network), http port \(config.httpPort), tftp root \(config.tftpRoot))")
    }
}
