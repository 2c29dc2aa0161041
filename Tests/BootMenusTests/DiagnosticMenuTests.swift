@testable import BootMenus
import Foundation
import NetworkAddresses
import Testing

/// Issue 19's two menu entries: "Diagnostic" (inventory only) and "Diagnostic et
/// effacement". Erasing is never the menu's own default nor a fallback, only a group's or a
/// machine's default an admin wrote; the entries wait for their image (`import wipe`); the
/// kernel command line carries the report URL, the mode, the countdown and the token.
@Suite("diagnostic and erase entries")
struct DiagnosticMenuTests {
    static let images = Golden.images.merging(["diagnostic-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")]) { $1 }
    static let token = "0123456789abcdef0123456789abcdef"

    static func shipped() throws -> MenuSet {
        try MenuSet.load(directory: Golden.repo.appendingPathComponent("pxe-menus").path, images: images,
                         imagesDirectory: "/var/lib/garage-pxe/images")
    }

    @Test("the shipped menus list both, in French, and default to neither")
    func shippedEntries() throws {
        let menus = try Self.shipped()
        #expect(menus.menu.entry("diagnostic")?.kind == .diagnostic)
        #expect(menus.menu.entry("diagnostic")?.label.hasPrefix("Diagnostic (") == true)
        #expect(menus.menu.entry("diagnostic-effacement")?.kind == .diagnosticErase)
        #expect(menus.menu.entry("diagnostic-effacement")?.label.hasPrefix("Diagnostic et effacement") == true)
        for machine in [Golden.plainBIOS, Golden.plainEFI, Golden.knownEFI, Golden.realtekBIOS] {
            let choice = menus.menu.choice(for: machine)
            #expect(choice.entries.contains { $0.id == "diagnostic-effacement" })
            #expect(choice.defaultEntry?.kind != .diagnosticErase, "\(machine.mac)")
        }
        let ipxe = menus.renderMenu(for: Golden.plainBIOS, server: Golden.server)
        #expect(ipxe.contains("item diagnostic Diagnostic (inventaire du poste, aucun disque modifie)"))
        #expect(ipxe.contains("item diagnostic-effacement Diagnostic et effacement (EFFACE TOUS LES DISQUES)"))
        var grubMachine = Golden.plainEFI
        grubMachine.chain = .secureBootShim
        let grub = try #require(menus.renderGRUBMenu(for: grubMachine, server: Golden.server, status: .armed))
        #expect(grub.contains("menuentry 'Diagnostic et effacement (EFFACE TOUS LES DISQUES)' --id 'diagnostic-effacement'"))
    }

    @Test("the entry script: report URL, MAC, mode, countdown, token (only when given), console on the PC's screen last")
    func entryScripts() throws {
        let menus = try Self.shipped()
        let erase = try menus.renderEntry("diagnostic-effacement", for: Golden.plainBIOS, server: Golden.server, reportToken: Self.token)
        let kernel = try #require(erase.split(separator: "\n").first { $0.hasPrefix("kernel ") })
        #expect(kernel == "kernel http://10.99.0.1:8080/images/diagnostic-amd64/linux garage_pxe.server=http://10.99.0.1:8080 garage_pxe.mac=52:54:00:12:34:56 garage_pxe.token=\(Self.token) garage_pxe.mode=erase garage_pxe.countdown=30 console=ttyS0,115200n8 console=tty0 || goto failed")
        #expect(erase.contains("initrd http://10.99.0.1:8080/images/diagnostic-amd64/initrd.gz || goto failed"))
        // Read by anyone but the PC: no token at all (the agent's reports are then refused).
        let unproven = try menus.renderEntry("diagnostic", for: Golden.plainEFI, server: Golden.server)
        let line = try #require(unproven.split(separator: "\n").first { $0.hasPrefix("kernel ") })
        #expect(line == "kernel http://10.99.0.1:8080/images/diagnostic-amd64/linux initrd=initrd.gz garage_pxe.server=http://10.99.0.1:8080 garage_pxe.mac=52:54:00:12:34:56 garage_pxe.mode=diagnostic console=ttyS0,115200n8 console=tty0 || goto failed")
        #expect(!unproven.contains("token") && !unproven.contains("countdown"))
        // GRUB: the same arguments on its linux line, the image over (http,…).
        let grub = try menus.renderGRUBEntry("diagnostic-effacement", for: Golden.plainEFI, server: Golden.server, reportToken: Self.token)
        #expect(grub.contains("linux \"${gp_server}/images/diagnostic-amd64/linux\" garage_pxe.server=http://10.99.0.1:8080 garage_pxe.mac=52:54:00:12:34:56 garage_pxe.token=\(Self.token) garage_pxe.mode=erase garage_pxe.countdown=30 console=ttyS0,115200n8 console=tty0 \n"))
        #expect(grub.contains("initrd \"${gp_server}/images/diagnostic-amd64/initrd.gz\""))
        // A group's kernel arguments follow (nomodeset for the Realtek laptops).
        let realtek = try menus.renderEntry("diagnostic", for: Golden.realtekBIOS, server: Golden.server)
        #expect(realtek.contains("console=tty0 nomodeset || goto failed"))
    }

    @Test("until the image is imported the two entries are left out, the rest of the menu works")
    func imageNotImported() throws {
        let menus = try Golden.shippedMenus()
        #expect(menus.menu.entry("diagnostic")?.imageImported == false)
        #expect(!menus.menu.choice(for: Golden.plainBIOS).entries.contains { $0.kind.isDiagnostic })
        #expect(!menus.renderMenu(for: Golden.plainBIOS, server: Golden.server).contains("diagnostic"))
        #expect(throws: MenuRenderError.hiddenEntry("diagnostic", platform: .bios)) {
            try menus.renderEntry("diagnostic", for: Golden.plainBIOS, server: Golden.server)
        }
    }

    static func menu(default top: String, group: String = "", machine: String = "", countdown: String = "") -> String {
        """
        default: \(top)
        entries:
          - id: effacer
            label: Diagnostic et effacement
            kind: diagnostic-erase
            image: diagnostic-amd64
        \(countdown)
          - id: diag
            label: Diagnostic
            kind: diagnostic
            image: diagnostic-amd64
          - id: disque
            label: Disque
            kind: local-disk
        groups:
          - id: atelier
            match:
              mac_prefixes: ["52:54:00:19"]
        \(group)
        machines:
          "52:54:00:00:19:01":
            group: atelier
        \(machine)
        """
    }

    static let diagnosticImage = ["diagnostic-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")]

    @Test("garage-pxe check: the menu's own default may not erase; a group's or a machine's may")
    func eraseDefault() throws {
        let top = try MenusFolder(menu: Self.menu(default: "effacer"))
        defer { top.remove() }
        let errors = top.errors()
        #expect(errors.count == 1 && errors.first?.hasPrefix("\(top.menuPath):1:10: error: the menu's default 'effacer' erases every disk") == true,
                "\(errors)")

        let group = try MenusFolder(menu: Self.menu(default: "disque", group: "    default: effacer"))
        defer { group.remove() }
        let byGroup = try group.load(images: Self.diagnosticImage)
        let member = MachineIdentity(mac: MACAddress("52:54:00:19:00:07")!, platform: .bios)
        #expect(byGroup.menu.choice(for: member).defaultEntry?.id == "effacer")
        #expect(byGroup.menu.choice(for: MachineIdentity(mac: MACAddress("52:54:00:77:00:07")!, platform: .bios)).defaultEntry?.id == "disque")

        let machine = try MenusFolder(menu: Self.menu(default: "disque", machine: "    default: effacer"))
        defer { machine.remove() }
        let byMachine = try machine.load(images: Self.diagnosticImage)
        #expect(byMachine.menu.choice(for: MachineIdentity(mac: MACAddress("52:54:00:00:19:01")!, platform: .efi)).defaultEntry?.id == "effacer")
        #expect(byMachine.menu.choice(for: member).defaultEntry?.id == "disque")
    }

    @Test("a default hidden on this firmware never falls through to the erase entry")
    func fallbackSkipsErase() throws {
        let folder = try MenusFolder(menu: Self.menu(default: "disque"))
        defer { folder.remove() }
        var menu = try folder.load(images: Self.diagnosticImage).menu
        menu.entries[2].platforms = [.efi]
        let bios = MachineIdentity(mac: MACAddress("52:54:00:77:00:08")!, platform: .bios)
        let choice = menu.choice(for: bios)
        #expect(choice.entries.first?.id == "effacer")
        #expect(choice.defaultEntry?.id == "diag")
    }

    @Test("countdown: only on erase entries, 5 s to an hour; image required; preseed refused")
    func keys() throws {
        let ok = try MenusFolder(menu: Self.menu(default: "disque", countdown: "    countdown: 12"))
        defer { ok.remove() }
        #expect(try ok.load(images: Self.diagnosticImage).menu.entry("effacer")?.countdownSeconds == 12)
        let short = try MenusFolder(menu: Self.menu(default: "disque", countdown: "    countdown: 2"))
        defer { short.remove() }
        #expect(short.errors().contains { $0.contains("'entries[1].countdown' must be between 5 and 3600, found 2") }, "\(short.errors())")
        let misplaced = try MenusFolder(menu: """
        default: diag
        entries:
          - id: diag
            label: Diagnostic
            kind: diagnostic
            countdown: 10
            preseed: preseed-debian
          - id: effacer
            label: Effacer
            kind: diagnostic-erase
        """)
        defer { misplaced.remove() }
        let errors = misplaced.errors()
        #expect(errors.contains { $0.contains("'entries[1].countdown' applies only to diagnostic-erase entries") }, "\(errors)")
        #expect(errors.contains { $0.contains("'entries[1].preseed' applies only to debian-installer entries, not diagnostic") }, "\(errors)")
        #expect(errors.contains { $0.contains("is a diagnostic entry and needs an 'image'") }, "\(errors)")
        #expect(errors.contains { $0.contains("is a diagnostic-erase entry and needs an 'image'") }, "\(errors)")
    }
}
