// `garage-pxe check` for the GRUB side (Debian's signed chain): every GRUB configuration a
// PC can get is rendered from the menus (grub.cfg, each machine's menu, each entry GRUB
// shows) and, when GRUB's own parser is installed (grub-script-check, package
// grub-common), parsed by it, so a template mistake is found on the server rather than
// on a PC's screen.

import BootMenus
import Foundation
import NetworkAddresses

public enum GRUBScriptCheck {
    /// Where Debian installs GRUB's parser; nil when grub-common is absent.
    public static var checker: String? {
        ["/usr/bin/grub-script-check", "/usr/sbin/grub-script-check"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// What grub-script-check says of `text`: nil when it parses, else its message.
    public static func parse(_ text: String, checker: String) -> String? {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("garage-pxe-grub-\(UUID().uuidString).cfg")
        defer { try? FileManager.default.removeItem(at: input) }
        do {
            try text.write(to: input, atomically: true, encoding: .utf8)
        } catch {
            return "cannot write \(input.path): \(error.localizedDescription)"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: checker)
        process.arguments = [input.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            return "cannot run \(checker): \(error.localizedDescription)"
        }
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus != 0 else { return nil }
        let message = said.trimmingCharacters(in: .whitespacesAndNewlines)
        return message.isEmpty ? "grub-script-check exited with status \(process.terminationStatus)" : message
    }

    /// The GRUB documents of one sample machine per group (and one with no group), armed and
    /// installed, each named for the report.
    public static func documents(_ menus: MenuSet, server: ServerSettings) -> [(name: String, text: String)] {
        var documents: [(String, String)] = []
        if let bootstrap = menus.renderGRUBBootstrap(server: server) { documents.append(("grub.cfg", bootstrap)) }
        var machines = [("a PC in no group", MachineIdentity(mac: MACAddress("52:54:00:00:00:01")!, platform: .efi,
                                                              manufacturer: "garage-pxe check", product: "sample"))]
        for (mac, override) in menus.menu.machines.sorted(by: { $0.key < $1.key }) {
            machines.append(("machine \(mac)\(override.group.map { " (group \($0))" } ?? "")", MachineIdentity(mac: mac, platform: .efi)))
        }
        for (label, machine) in machines {
            for status in [InstallOnceStatus.armed, .installed] {
                guard let menu = menus.renderGRUBMenu(for: machine, server: server, status: status) else { continue }
                documents.append(("menu for \(label)\(status == .installed ? ", installed" : "")", menu))
            }
            var grubMachine = machine
            grubMachine.chain = .secureBootShim
            for entry in menus.menu.choice(for: grubMachine).entries {
                if let text = try? menus.renderGRUBEntry(entry.id, for: machine, server: server) {
                    documents.append(("entry \(entry.id) for \(label)", text))
                }
            }
        }
        return documents
    }

    /// Errors for `check`: none when every document parses (or when GRUB's parser is absent,
    /// which `check` reports as a warning).
    public static func problems(_ menus: MenuSet, server: ServerSettings, checker: String) -> [String] {
        documents(menus, server: server).compactMap { name, text in
            parse(text, checker: checker).map { "GRUB cannot parse the \(name): \($0)" }
        }
    }
}
