@testable import BootMenus
import Foundation
import Testing

/// The GRUB side of the shipped menus (Debian's signed chain for UEFI PCs), rendered for
/// the same machines as the iPXE goldens and compared with Tests/Fixtures/menus-golden/*.grub
/// (GARAGE_PXE_UPDATE_GOLDEN=1 regenerates them). DaemonTests/GRUBScriptCheckTests has
/// GRUB's own parser read them.
@Suite("GRUB configurations from the shipped menus")
struct GRUBGoldenTests {
    @Test("grub.cfg: identifies the machine and sources its menu over HTTP")
    func bootstrap() throws {
        let text = try #require(try Golden.shippedMenus().renderGRUBBootstrap(server: Golden.server))
        try Golden.compare(text, "grub.cfg")
        #expect(text.contains("set gp_server='(http,10.99.0.1:8080)'"))
        #expect(text.contains("source \"${gp_server}/boot.grub?mac=${net_default_mac}&platform=efi"))
    }

    @Test("menus: same default, timeout, group and install once as iPXE's", arguments: [
        (Golden.plainEFI, InstallOnceStatus.armed, "menu-plain-efi.grub"),
        (Golden.knownEFI, InstallOnceStatus.armed, "menu-known-efi.grub"),
        (Golden.plainEFI, InstallOnceStatus.installed, "menu-installed-efi.grub"),
    ])
    func menu(machine: MachineIdentity, status: InstallOnceStatus, golden: String) throws {
        let text = try #require(try Golden.shippedMenus().renderGRUBMenu(for: machine, server: Golden.server, status: status))
        try Golden.compare(text, golden)
    }

    @Test("entries iPXE alone can run are left out; the rest match the iPXE menu's order and default")
    func sameEntriesAsIPXE() throws {
        let menus = try Golden.shippedMenus()
        var grubMachine = Golden.knownEFI
        grubMachine.chain = .secureBootShim
        let ipxe = menus.menu.choice(for: Golden.knownEFI)
        let grub = menus.menu.choice(for: grubMachine)
        #expect(grub.entries.map(\.id) == ipxe.entries.filter { $0.kind.bootsUnderGRUB }.map(\.id))
        #expect(grub.entries.map(\.id) == ["debian-13-auto", "debian-13-manuel", "debian-13-secours", "disque-local"])
        #expect(grub.defaultEntry?.id == ipxe.defaultEntry?.id, "the machines line's default (disque-local) holds under GRUB too")
        #expect(grub.timeoutSeconds == 5, "group thinkcentre's timeout")
        let text = try #require(menus.renderGRUBMenu(for: Golden.knownEFI, server: Golden.server, status: .armed))
        #expect(!text.contains("shell") && !text.contains("infos-machine"))
        #expect(throws: MenuRenderError.hiddenEntry("shell", platform: .efi)) {
            try menus.renderGRUBEntry("shell", for: Golden.knownEFI, server: Golden.server)
        }
    }

    @Test("an iPXE-only default falls back to the first entry GRUB can boot")
    func ipxeOnlyDefault() throws {
        var menu = try Golden.shippedMenus().menu
        menu.defaultEntry = "shell"
        var machine = Golden.plainEFI
        machine.chain = .secureBootShim
        #expect(menu.choice(for: machine).defaultEntry?.id == "debian-13-auto")
        #expect(menu.choice(for: Golden.plainEFI).defaultEntry?.id == "shell")
    }

    /// Entries under GRUB: the iPXE entry's kernel arguments, kernel and initrd over GRUB's
    /// http. GoldenScriptTests.entry renders and compares them with the iPXE ones.
    static let entries = [
        (Golden.plainEFI, "debian-13-auto", "entry-debian-13-auto-plain-efi.grub"),
        (Golden.knownEFI, "disque-local", "entry-disque-local-known-efi.grub"),
    ]

    @Test("the PC's own entry: its install token on GRUB's linux line, in the preseed URL")
    func entryWithToken() throws {
        let token = "0123456789abcdef0123456789abcdef"
        let text = try Golden.shippedMenus().renderGRUBEntry("debian-13-auto", for: Golden.plainEFI, server: Golden.server,
                                                             reportToken: token)
        try Golden.compare(text, "entry-debian-13-auto-plain-efi-token.grub")
        #expect(text.contains("'url=http://10.99.0.1:8080/preseed/debian-13-auto.cfg?mac=52:54:00:12:34:56&token=\(token)' "))
    }

    @Test("the kernel command line is the iPXE entry's, word for word (with and without the install token)",
          arguments: [nil, "0123456789abcdef0123456789abcdef"] as [String?])
    func sameKernelArguments(token: String?) throws {
        let menus = try Golden.shippedMenus()
        let ipxe = try menus.renderEntry("debian-13-auto", for: Golden.plainEFI, server: Golden.server, reportToken: token)
        let grub = try menus.renderGRUBEntry("debian-13-auto", for: Golden.plainEFI, server: Golden.server, reportToken: token)
        let ipxeLine = try #require(ipxe.split(separator: "\n").first { $0.hasPrefix("kernel ") })
        let grubLine = try #require(grub.split(separator: "\n").first { $0.hasPrefix("linux ") })
        // iPXE: kernel URL initrd=initrd.gz ARGS || goto failed; GRUB: linux "DEVICE/PATH" ARGS (url quoted).
        let ipxeArgs = ipxeLine.split(separator: " ").dropFirst(3).dropLast(3).joined(separator: " ")
        let grubArgs = grubLine.split(separator: " ").dropFirst(2).joined(separator: " ").replacingOccurrences(of: "'", with: "")
        #expect(grubArgs == ipxeArgs)
    }

    @Test("labels and reported text cannot break out of GRUB's quotes")
    func quoting() {
        #expect(TextStyle.grub.display("l'atelier") == "l'\\''atelier")
        #expect(TextStyle.grub.reported("X'; reboot; echo '$x") == "X?? reboot? echo ??x")
        #expect(TextStyle.grub.display("Démarrer") == "Demarrer")
    }
}
