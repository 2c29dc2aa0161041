@testable import BootMenus
import Foundation
import NetworkAddresses
import Testing

/// A menus folder written by the test: menu.yaml plus templates, for error cases.
struct MenusFolder {
    let url: URL

    init(menu: String, templates: [String: String] = [:], postinstall: [String] = []) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-menus-\(UUID().uuidString)")
        let fm = FileManager.default
        try fm.createDirectory(at: url.appendingPathComponent("templates"), withIntermediateDirectories: true)
        try fm.createDirectory(at: url.appendingPathComponent("postinstall"), withIntermediateDirectories: true)
        try menu.write(to: url.appendingPathComponent("menu.yaml"), atomically: true, encoding: .utf8)
        let defaults = ["bootstrap.ipxe": "#!ipxe\nchain {{server.base_url}}/boot.ipxe?mac=${netX/mac}\n",
                        "menu.ipxe": "#!ipxe\n{{#menu.entries}}item {{id}} {{label}}\n{{/menu.entries}}choose --default {{menu.default}} x\n",
                        "entry.ipxe": "#!ipxe\necho {{entry.label}}\n"]
        for (name, text) in defaults.merging(templates, uniquingKeysWith: { $1 }) {
            try text.write(to: url.appendingPathComponent("templates/\(name).mustache"), atomically: true, encoding: .utf8)
        }
        for name in postinstall {
            try "#!/bin/sh\n".write(to: url.appendingPathComponent("postinstall/\(name)"), atomically: true, encoding: .utf8)
        }
    }

    var menuPath: String { url.appendingPathComponent("menu.yaml").path }
    func template(_ name: String) -> String { url.appendingPathComponent("templates/\(name).mustache").path }

    func load(images: [String: BootImageFiles] = ["debian-12-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")]) throws -> MenuSet {
        try MenuSet.load(directory: url.path, images: images, imagesDirectory: "/var/lib/garage-pxe/images")
    }

    /// The error lines of a load that must fail.
    func errors() -> [String] {
        do {
            _ = try load()
            return []
        } catch {
            return "\(error)".split(separator: "\n").map(String.init)
        }
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

@Suite("menu.yaml mistakes, each at its file:line:column")
struct MenuFileTests {
    @Test("wrong indentation is a YAML syntax error at its place")
    func wrongIndentation() throws {
        let folder = try MenusFolder(menu: """
        default: a
        entries:
          - id: a
            label: A
           kind: local-disk
        """)
        defer { folder.remove() }
        let errors = folder.errors()
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("\(folder.menuPath):5:") == true, "\(errors)")
        #expect(errors.first?.contains("error: YAML syntax") == true)
    }

    @Test("unknown keys, an unknown default, a missing image, a missing template: all at once")
    func everyMistakeAtOnce() throws {
        let folder = try MenusFolder(menu: """
        title: Atelier
        timeout: 10
        default: debian-13
        entries:
          - id: debian
            label: Installer Debian
            kind: debian-installer
            image: debian-13-amd64
            preseed: absent.cfg
            platfroms: [bios]
          - id: disque
            label: Disque
            kind: local-disk
            image: debian-12-amd64
          - id: rien
            label: Rien
            kind: floppy
        groups:
          - id: g
            default: nope
            match: {mac_prefixes: ["00:e0"], manufacturer: LENOVO}
        machines:
          "52:54:00:12:34:5z":
            group: h
            hostname: "pc 12"
        colour: blue
        """)
        defer { folder.remove() }
        let p = folder.menuPath
        #expect(folder.errors() == [
            "\(p):3:10: error: default entry 'debian-13' is not an entry id (entries: debian, disque)",
            "\(p):8:12: error: image 'debian-13-amd64' is not in /var/lib/garage-pxe/images (images: debian-12-amd64)",
            "\(p):9:14: error: template 'absent.cfg' does not exist (expected the file templates/absent.cfg.mustache)",
            "\(p):10:5: error: unknown key 'entries[1].platfroms' (expected one of: id, label, kind, image, kernel_args, preseed, postinstall, template, url, countdown, platforms)",
            "\(p):14:12: error: 'entries[2].image' applies only to debian-installer and diagnostic entries, not local-disk",
            "\(p):17:11: error: 'entries[3].kind' must be one of: debian-installer, ipxe-script, local-disk, chain-url, ipxe-shell, diagnostic, diagnostic-erase, found 'floppy'",
            "\(p):20:14: error: default entry 'nope' is not an entry id (entries: debian, disque)",
            "\(p):23:3: error: machine key '52:54:00:12:34:5z' is not a MAC address such as 52:54:00:12:34:56",
            "\(p):24:12: error: group 'h' is not defined under 'groups' (groups: g)",
            "\(p):25:15: error: hostname 'pc 12' must be 1 to 63 letters, digits or '-', not starting or ending with '-'",
            "\(p):26:1: error: unknown key 'colour' (expected one of: title, timeout, default, entries, groups, machines)",
        ])
    }

    @Test("templates: syntax errors and unknown variables at their place, partials followed")
    func templateMistakes() throws {
        let folder = try MenusFolder(menu: """
        default: a
        entries:
          - id: a
            label: A
            kind: ipxe-script
            template: infos
        """, templates: [
            "menu.ipxe": "#!ipxe\n{{#menu.entries}}\nitem {{id}} {{lable}}\n{{/menu.entries}}\n{{> footer}}\n",
            "footer": "echo {{server.site}} {{machine.serail}}\n",
            "infos": "#!ipxe\necho {{machine.mac}} {{entry.kernel_url}} {{menu.title}}\n{{#entry.is_local_disk}}\n",
            "entry.ipxe": "#!ipxe\necho {{machine.mac}}\n{{> nowhere}}\n",
            "bootstrap.ipxe": "#!ipxe\n  chain {{server.base_url}}/boot.ipxe?mac={{machine.mac}}\n",
        ])
        defer { folder.remove() }
        #expect(folder.errors() == [
            "\(folder.template("bootstrap.ipxe")):2:43: error: unknown variable 'machine.mac' (known here: server)",
            "\(folder.template("entry.ipxe")):3:1: error: partial 'nowhere' does not exist (expected templates/nowhere.mustache)",
            "\(folder.template("footer")):1:22: error: unknown variable 'machine.serail' (did you mean 'machine.serial'?)",
            "\(folder.template("infos")):3:1: error: template syntax: section 'entry.is_local_disk' is never closed (missing '{{/entry.is_local_disk}}')",
            "\(folder.template("menu.ipxe")):3:13: error: unknown variable 'lable' (did you mean 'label'?)",
        ])
    }

    @Test("a menus folder without its three templates says which are missing")
    func missingTemplates() throws {
        let folder = try MenusFolder(menu: "default: a\nentries: [{id: a, label: A, kind: ipxe-shell}]\n")
        defer { folder.remove() }
        try FileManager.default.removeItem(atPath: folder.template("entry.ipxe"))
        #expect(folder.errors() == [
            "\(folder.template("entry.ipxe")): error: missing template (every menus folder needs bootstrap.ipxe, menu.ipxe and entry.ipxe)",
        ])
    }

    @Test("groups: by MAC list, MAC prefix, DMI pattern; machines lines win; platforms and group lists filter")
    func selection() throws {
        let folder = try MenusFolder(menu: """
        default: install
        timeout: 10
        entries:
          - {id: install, label: Installer, kind: debian-installer, image: debian-12-amd64}
          - {id: efi-only, label: UEFI, kind: ipxe-shell, platforms: [efi]}
          - {id: disk, label: Disque, kind: local-disk}
        groups:
          - {id: listed, match: {macs: ["52:54:00:00:00:01"]}, default: disk}
          - {id: realtek, match: {mac_prefixes: ["00-E0-4C"]}, entries: [disk], timeout: 0}
          - {id: lenovo, match: {manufacturer: lenovo, product: "ThinkPad*"}, default: efi-only, kernel_args: nomodeset}
        machines:
          "00:e0:4c:00:00:07": {group: lenovo, default: install, hostname: poste-7}
        """)
        defer { folder.remove() }
        let menu = try folder.load().menu
        func machine(_ mac: String, _ platform: BootPlatform = .bios, manufacturer: String? = nil, product: String? = nil) -> MachineChoice {
            menu.choice(for: MachineIdentity(mac: MACAddress(mac)!, platform: platform, manufacturer: manufacturer, product: product))
        }
        let listed = machine("52:54:00:00:00:01")
        #expect(listed.group?.id == "listed")
        #expect(listed.defaultEntry?.id == "disk")
        #expect(listed.entries.map(\.id) == ["install", "disk"])
        let realtek = machine("00:e0:4c:12:34:56")
        #expect(realtek.group?.id == "realtek")
        #expect(realtek.entries.map(\.id) == ["disk"])
        #expect(realtek.defaultEntry?.id == "disk", "the menu default is hidden, so the first shown entry")
        #expect(realtek.timeoutSeconds == 0)
        let lenovoBIOS = machine("52:54:00:99:99:99", manufacturer: "LENOVO", product: "ThinkPad T480")
        #expect(lenovoBIOS.group?.id == "lenovo")
        #expect(lenovoBIOS.defaultEntry?.id == "install", "efi-only is hidden on BIOS")
        #expect(lenovoBIOS.extraKernelArguments == "nomodeset")
        #expect(machine("52:54:00:99:99:99", .efi, manufacturer: "LENOVO", product: "ThinkPad T480").defaultEntry?.id == "efi-only")
        #expect(machine("52:54:00:99:99:99", manufacturer: "LENOVO", product: "ThinkCentre").group == nil)
        let known = machine("00:e0:4c:00:00:07", .efi)
        #expect(known.group?.id == "lenovo", "the machines line wins over the prefix group")
        #expect(known.defaultEntry?.id == "install")
        #expect(known.hostname == "poste-7")
        #expect(machine("52:54:00:99:99:98").hostname == "pc-525400999998")
        #expect(throws: MenuRenderError.hiddenEntry("efi-only", platform: .bios)) {
            try folder.load().renderEntry("efi-only", for: MachineIdentity(mac: MACAddress("52:54:00:99:99:98")!, platform: .bios),
                                          server: Golden.server)
        }
    }
}

@Suite("values from query strings")
struct MachineQueryTests {
    @Test("a well-formed iPXE query is read, DMI text trimmed")
    func wellFormed() throws {
        let m = try MachineIdentity(query: ["mac": "52:54:00:AB:cd:01", "platform": "efi", "buildarch": "x86_64", "ip": "10.0.0.9",
                                            "uuid": "0B9E52C4-8B6F-4B49-9D1B-8A3E1B1E7F01", "manufacturer": "  LENOVO ",
                                            "product": "ThinkCentre M720q", "serial": ""])
        #expect(m.mac.description == "52:54:00:ab:cd:01")
        #expect(m.platform == .efi)
        #expect(m.uuid == "0b9e52c4-8b6f-4b49-9d1b-8a3e1b1e7f01")
        #expect(m.manufacturer == "LENOVO")
        #expect(m.serial == nil)
        #expect(m.queryString == "mac=52:54:00:ab:cd:01&platform=efi&buildarch=x86_64&ip=10.0.0.9&uuid=0b9e52c4-8b6f-4b49-9d1b-8a3e1b1e7f01&manufacturer=LENOVO&product=ThinkCentre%20M720q")
    }

    @Test("junk never gets through", arguments: [
        ["platform": "efi"],
        ["mac": "52:54:00:12:34"],
        ["mac": "52:54:00:12:34:56\n"],
        ["mac": "52-54:00-12:34:56"],
        ["mac": "52:54:00:12:34:56", "platform": "amiga"],
        ["mac": "52:54:00:12:34:56", "ip": "10.0.0.256"],
        ["mac": "52:54:00:12:34:56", "uuid": "not-a-uuid"],
        ["mac": "52:54:00:12:34:56", "serial": "abc\ninjected log line"],
        ["mac": "52:54:00:12:34:56", "buildarch": "x86_64; rm"],
        ["mac": "52:54:00:12:34:56", "product": String(repeating: "x", count: 65)],
    ])
    func refused(query: [String: String]) {
        #expect(throws: MachineQueryError.self) { try MachineIdentity(query: query) }
    }

    @Test("DMI text with ${ cannot expand in iPXE")
    func noExpansion() throws {
        let folder = try MenusFolder(menu: "default: a\nentries: [{id: a, label: A, kind: ipxe-shell}]\n",
                                     templates: ["menu.ipxe": "#!ipxe\necho {{machine.product}}\n"])
        defer { folder.remove() }
        let machine = try MachineIdentity(query: ["mac": "52:54:00:12:34:56", "product": "${root-path} é"])
        #expect(try folder.load().renderMenu(for: machine, server: Golden.server) == "#!ipxe\necho $ {root-path} e\n")
    }

    @Test("DMI text cannot form an iPXE command: ; && || # quotes and backslashes become '?'")
    func noCommand() throws {
        let folder = try MenusFolder(menu: "default: a\nentries: [{id: a, label: A, kind: ipxe-shell}]\n",
                                     templates: ["menu.ipxe": "#!ipxe\nitem --gap -- {{machine.serial}} {{machine.product}}\n"])
        defer { folder.remove() }
        let machine = try MachineIdentity(query: ["mac": "52:54:00:12:34:56", "serial": "X ; shell", "product": "a && reboot || exit # \"q' \\ `x`"])
        let script = try folder.load().renderMenu(for: machine, server: Golden.server)
        #expect(script == "#!ipxe\nitem --gap -- X ? shell a ?? reboot ?? exit ? ?q? ? ?x?\n")
    }

    @Test("transliteration for iPXE", arguments: [
        ("Démarrer sur le disque", "Demarrer sur le disque"), ("Cœur « spécial » — 5 €", "Coeur \" special \" - 5 EUR"),
        ("Ligne\nsuivante", "Ligne suivante"), ("中文", "??"), ("Ça marche, Noël", "Ca marche, Noel"),
    ])
    func transliteration(input: String, expected: String) {
        #expect(ASCIIText.transliterate(input) == expected)
    }
}
