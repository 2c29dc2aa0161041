@testable import BootMenus
import Foundation
import NetworkAddresses
import Testing

/// The shipped pxe-menus folder, rendered for real machines and compared byte for byte
/// with the files under Tests/Fixtures/menus-golden/. After a deliberate change to a
/// template, regenerate them with GARAGE_PXE_UPDATE_GOLDEN=1 and review the diff.
enum Golden {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repo.appendingPathComponent("Tests/Fixtures")
    static let server = ServerSettings(baseURL: "http://10.99.0.1:8080", address: "10.99.0.1", site: "Atelier Garage",
                                       syslogPort: 5514, mirrorURL: "http://192.168.1.10:3142/deb.debian.org/debian/",
                                       proxyURL: "")
    static let images = ["debian-13-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")]

    static func shippedMenus() throws -> MenuSet {
        try MenuSet.load(directory: repo.appendingPathComponent("pxe-menus").path, images: images, imagesDirectory: "/var/lib/garage-pxe/images")
    }

    static func compare(_ rendered: String, _ name: String, folder: String = "menus-golden") throws {
        let url = fixtures.appendingPathComponent(folder).appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["GARAGE_PXE_UPDATE_GOLDEN"] == "1" {
            try rendered.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(rendered == expected, "\(name) differs from its golden file; rendered:\n\(rendered)")
    }

    /// An unknown PC (no group, no machines line).
    static let plainBIOS = MachineIdentity(mac: MACAddress("52:54:00:12:34:56")!, platform: .bios, buildArchitecture: "i386",
                                           ip: "10.99.0.50", uuid: "0b9e52c4-8b6f-4b49-9d1b-8a3e1b1e7f01",
                                           manufacturer: "QEMU", product: "Standard PC (i440FX + PIIX, 1996)", serial: nil)
    static var plainEFI: MachineIdentity {
        var m = plainBIOS
        m.platform = .efi
        m.buildArchitecture = "x86_64"
        return m
    }
    /// A PC with a machines line (group thinkcentre, default disque-local, hostname, note).
    static let knownEFI = MachineIdentity(mac: MACAddress("52:54:00:00:00:99")!, platform: .efi, buildArchitecture: "x86_64",
                                          ip: "10.99.0.51", manufacturer: "LENOVO", product: "ThinkCentre M720q", serial: "PF0ABCDE")
    /// Matched by MAC prefix only (group portables-realtek: nomodeset).
    static let realtekBIOS = MachineIdentity(mac: MACAddress("00:e0:4c:68:00:01")!, platform: .bios, buildArchitecture: "i386")
}

@Suite("golden scripts from the shipped menus")
struct GoldenScriptTests {
    @Test("bootstrap script")
    func bootstrap() throws {
        try Golden.compare(try Golden.shippedMenus().renderBootstrap(server: Golden.server), "bootstrap.ipxe")
    }

    @Test("menu, BIOS and UEFI, without and with overrides", arguments: [
        (Golden.plainBIOS, "menu-plain-bios.ipxe"), (Golden.plainEFI, "menu-plain-efi.ipxe"),
        (Golden.knownEFI, "menu-known-efi.ipxe"), (Golden.realtekBIOS, "menu-realtek-bios.ipxe"),
    ])
    func menu(machine: MachineIdentity, golden: String) throws {
        try Golden.compare(try Golden.shippedMenus().renderMenu(for: machine, server: Golden.server), golden)
    }

    @Test("entry scripts, BIOS and UEFI, without and with overrides", arguments: [
        (Golden.plainBIOS, "debian-13-auto", "entry-debian-13-auto-plain-bios.ipxe"),
        (Golden.plainEFI, "debian-13-auto", "entry-debian-13-auto-plain-efi.ipxe"),
        (Golden.realtekBIOS, "debian-13-auto", "entry-debian-13-auto-realtek-bios.ipxe"),
        (Golden.plainEFI, "debian-13-secours", "entry-debian-13-secours-plain-efi.ipxe"),
        (Golden.plainBIOS, "disque-local", "entry-disque-local-plain-bios.ipxe"),
        (Golden.knownEFI, "disque-local", "entry-disque-local-known-efi.ipxe"),
        (Golden.knownEFI, "infos-machine", "entry-infos-machine-known-efi.ipxe"),
        (Golden.plainBIOS, "shell", "entry-shell-plain-bios.ipxe"),
    ])
    func entry(machine: MachineIdentity, entry: String, golden: String) throws {
        try Golden.compare(try Golden.shippedMenus().renderEntry(entry, for: machine, server: Golden.server), golden)
    }

    @Test("preseed, with and without a machines line")
    func preseed() throws {
        let menus = try Golden.shippedMenus()
        try Golden.compare(try menus.renderPreseed("debian-13-auto", for: Golden.plainBIOS, server: Golden.server), "preseed-plain.cfg")
        try Golden.compare(try menus.renderPreseed("debian-13-auto", for: Golden.knownEFI, server: Golden.server), "preseed-known.cfg")
    }

    @Test("iPXE output is plain ASCII; the preseed keeps UTF-8")
    func asciiOnlyInIPXE() throws {
        let menus = try Golden.shippedMenus()
        let menu = menus.renderMenu(for: Golden.knownEFI, server: Golden.server)
        #expect(menu.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(menu.contains("item disque-local Demarrer sur le disque dur"))
        #expect(menu.contains("Note : PC de l'accueil : ne jamais reinstaller sans demander a Camille"))
        let preseed = try menus.renderPreseed("debian-13-auto", for: Golden.plainBIOS, server: Golden.server)
        #expect(preseed.contains("Installer Debian 13 (automatique, efface le disque)"))
        #expect(preseed.contains("« terminé »"))
    }

    @Test("unknown entries and entries without a preseed are refused")
    func unknownEntry() throws {
        let menu = try Golden.shippedMenus()
        #expect(throws: MenuRenderError.unknownEntry("nope")) { try menu.renderEntry("nope", for: Golden.plainBIOS, server: Golden.server) }
        #expect(throws: MenuRenderError.noPreseed("shell")) { try menu.renderPreseed("shell", for: Golden.plainBIOS, server: Golden.server) }
    }
}

@Suite("every template variable")
struct AllVariablesTests {
    /// A template naming every variable of every role's context, written from the sample
    /// context itself, so a variable added to the context shows up here (and in the golden
    /// file) without anyone remembering to add it.
    static func everyVariableTemplate(_ role: TemplateRole) -> String {
        var lines: [String] = ["{{! generated by AllVariablesTests: every variable of the \(role.rawValue) context }}"]
        func walk(_ value: Any, path: String) {
            if let dict = value as? [String: Any] {
                for key in dict.keys.sorted() { walk(dict[key]!, path: path.isEmpty ? key : "\(path).\(key)") }
            } else if let list = value as? [[String: Any]] {
                lines.append("\(path):")
                lines.append("{{#\(path)}}")
                for key in (list.first ?? [:]).keys.sorted() { lines.append("  \(key)={{\(key)}}") }
                lines.append("{{/\(path)}}")
            } else {
                lines.append("\(path)={{\(path)}}")
            }
        }
        walk(MenuSet.sampleContext(role), path: "")
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("rendered for a BIOS and a UEFI machine, with and without overrides")
    func everyVariable() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-allvars-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = Golden.repo.appendingPathComponent("pxe-menus")
        try FileManager.default.copyItem(at: source, to: dir)
        let templates = dir.appendingPathComponent("templates")
        // Each role's template replaced by one that names every variable of that role.
        let files: [(TemplateRole, String)] = [(.bootstrap, "bootstrap.ipxe"), (.menu, "menu.ipxe"), (.entry, "entry.ipxe"), (.preseed, "preseed-debian.cfg")]
        for (role, name) in files {
            let text = Self.everyVariableTemplate(role)
            try text.write(to: templates.appendingPathComponent(name + ".mustache"), atomically: true, encoding: .utf8)
            // The generated templates are fixtures too: a reader sees every name in one place.
            try Golden.compare(text, "\(name).mustache", folder: "menus-all-variables/templates")
        }
        let menus = try MenuSet.load(directory: dir.path, images: Golden.images, imagesDirectory: "/images")
        var out = "## bootstrap\n" + menus.renderBootstrap(server: Golden.server)
        for (label, machine) in [("plain BIOS", Golden.plainBIOS), ("known UEFI", Golden.knownEFI), ("realtek BIOS", Golden.realtekBIOS)] {
            out += "## menu, \(label)\n" + menus.renderMenu(for: machine, server: Golden.server)
            out += "## entry debian-13-auto, \(label)\n" + (try menus.renderEntry("debian-13-auto", for: machine, server: Golden.server))
            out += "## preseed debian-13-auto, \(label)\n" + (try menus.renderPreseed("debian-13-auto", for: machine, server: Golden.server))
        }
        // What the PC itself gets: its install's token in the preseed URL and the progress URLs.
        let token = "0123456789abcdef0123456789abcdef"
        out += "## entry debian-13-auto, plain BIOS, with its install token\n"
            + (try menus.renderEntry("debian-13-auto", for: Golden.plainBIOS, server: Golden.server, reportToken: token))
        out += "## preseed debian-13-auto, plain BIOS, with its install token\n"
            + (try menus.renderPreseed("debian-13-auto", for: Golden.plainBIOS, server: Golden.server, reportToken: token))
        try Golden.compare(out, "rendered.txt", folder: "menus-all-variables")
        // No variable rendered as nothing by mistake where the machine told us everything.
        #expect(!out.contains("mac=\n"))
    }
}
