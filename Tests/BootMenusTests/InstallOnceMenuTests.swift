@testable import BootMenus
import Foundation
import NetworkAddresses
import Testing

@Suite("install once: an installed machine's menu")
struct InstallOnceMenuTests {
    static let entries = [
        MenuEntry(id: "auto", label: "Installer", kind: .debianInstaller, image: "img"),
        MenuEntry(id: "disque-uefi", label: "Disque (UEFI)", kind: .localDisk, platforms: [.efi]),
        MenuEntry(id: "disque", label: "Disque", kind: .localDisk),
        MenuEntry(id: "shell", label: "Shell", kind: .ipxeShell),
    ]
    static let menu = BootMenu(title: "t", timeoutSeconds: 5, defaultEntry: "auto", entries: entries)
    static let bios = MachineIdentity(mac: MACAddress("52:54:00:00:00:01")!, platform: .bios)
    static let efi = MachineIdentity(mac: MACAddress("52:54:00:00:00:01")!, platform: .efi)

    @Test("installed: the first local-disk entry its menu shows becomes the default; every entry stays")
    func localDiskDefault() {
        let choice = Self.menu.choice(for: Self.bios, installed: true, policy: InstallOncePolicy())
        #expect(choice.defaultEntry?.id == "disque", "disque-uefi is hidden on BIOS")
        #expect(choice.installed)
        #expect(choice.entries.map(\.id) == ["auto", "disque", "shell"])
        #expect(Self.menu.choice(for: Self.efi, installed: true, policy: InstallOncePolicy()).defaultEntry?.id == "disque-uefi")
    }

    @Test("not installed, or install once off: the usual default")
    func usualDefault() {
        for (installed, enabled) in [(false, true), (true, false), (false, false)] {
            let choice = Self.menu.choice(for: Self.bios, installed: installed, policy: InstallOncePolicy(enabled: enabled))
            #expect(choice.defaultEntry?.id == "auto")
            #expect(!choice.installed)
            #expect(choice == Self.menu.choice(for: Self.bios))
        }
    }

    @Test("a configured entry wins when the machine's menu shows it, else auto")
    func configuredEntry() {
        #expect(Self.menu.choice(for: Self.bios, installed: true, policy: InstallOncePolicy(entry: "shell")).defaultEntry?.id == "shell")
        #expect(Self.menu.choice(for: Self.bios, installed: true, policy: InstallOncePolicy(entry: "disque-uefi")).defaultEntry?.id == "disque")
        #expect(Self.menu.choice(for: Self.bios, installed: true, policy: InstallOncePolicy(entry: "nope")).defaultEntry?.id == "disque")
    }

    @Test("a menu without a local-disk entry keeps its default (and shows no rearm item)")
    func noLocalDisk() {
        let menu = BootMenu(title: "t", timeoutSeconds: 5, defaultEntry: "auto", entries: [Self.entries[0], Self.entries[3]])
        let choice = menu.choice(for: Self.bios, installed: true, policy: InstallOncePolicy())
        #expect(choice.defaultEntry?.id == "auto")
        #expect(!choice.installed)
    }

    @Test("the shipped menu for an installed UEFI PC (golden): local disk by default, the installer still listed, no URL that re-arms")
    func golden() throws {
        let menus = try Golden.shippedMenus()
        let rendered = menus.renderMenu(for: Golden.plainEFI, server: Golden.server, installed: true)
        try Golden.compare(rendered, "menu-installed-efi.ipxe")
        #expect(rendered.contains("--default disque-local "))
        #expect(rendered.contains("item debian-13-auto "))
        // Re-arming is an admin's POST with the admin token (issue 16), never a link a PC follows.
        #expect(!rendered.contains("rearm"))
        // Not installed: byte for byte the usual menu.
        #expect(menus.renderMenu(for: Golden.plainEFI, server: Golden.server, installed: false)
                == menus.renderMenu(for: Golden.plainEFI, server: Golden.server))
    }
}

@Suite("preseed: late_command and first boot")
struct PreseedLateCommandTests {
    /// The late_command's shell text, continuation lines joined as debconf joins them.
    static func lateCommand(_ preseed: String) -> String? {
        let lines = preseed.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard var i = lines.firstIndex(where: { $0.hasPrefix("d-i preseed/late_command string") }) else { return nil }
        var text = String(lines[i].dropFirst("d-i preseed/late_command string".count))
        while text.hasSuffix("\\"), i + 1 < lines.count {
            text.removeLast()
            i += 1
            text += lines[i]
        }
        return text.trimmingCharacters(in: .whitespaces)
    }

    @Test("the post-install script's result is reported, the first-boot unit installed, finished last, each URL with the install's token")
    func lateCommandReports() throws {
        let token = "00112233445566778899aabbccddeeff"
        let preseed = try Golden.shippedMenus().renderPreseed("debian-13-auto", for: Golden.plainBIOS, server: Golden.server,
                                                             reportToken: token)
        let command = try #require(Self.lateCommand(preseed))
        let progress = "http://10.99.0.1:8080/progress?mac=52:54:00:12:34:56&token=\(token)"
        // The first-boot file holds the token: root's only.
        #expect(command.contains("chmod 600 /target/etc/garage-pxe-first-boot.conf"))
        // Without a token (a person reading the preseed), no URL carries one.
        let read = try Golden.shippedMenus().renderPreseed("debian-13-auto", for: Golden.plainBIOS, server: Golden.server)
        #expect(!read.contains("token="))
        let done = try #require(command.range(of: "\(progress)&stage=postinstall-done"))
        let failed = try #require(command.range(of: "\(progress)&stage=postinstall-failed"))
        let finished = try #require(command.range(of: "\(progress)&stage=finished"))
        #expect(command.contains("if wget -q -O /target/root/postinstall.sh \"http://10.99.0.1:8080/postinstall/atelier.sh\""))
        #expect(command.contains("in-target sh /root/postinstall.sh \"pc-525400123456\"; then"))
        #expect(done.lowerBound < failed.lowerBound && failed.lowerBound < finished.lowerBound)
        #expect(command.contains("echo \"GARAGE_PXE_PROGRESS_URL=\(progress)&stage=first-boot\" > /target/etc/garage-pxe-first-boot.conf"))
        #expect(command.contains("http://10.99.0.1:8080/postinstall/garage-pxe-first-boot.service"))
        #expect(command.contains("in-target systemctl enable garage-pxe-first-boot.service"))
        #expect(command.hasSuffix("wget -q -O /dev/null \"\(progress)&stage=finished\""))
        // The stages land on the kinds the issue names.
        // (InstallEventRecorder.progressKind maps postinstall-done/-failed, finished, first-boot.)
    }
}
