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

    /// Renders `entry` for `machine` in the script language of `golden` (`.ipxe`: iPXE's,
    /// `.grub`: GRUB's) and compares it with that golden file.
    static func compareEntry(_ entry: String, for machine: MachineIdentity, _ golden: String) throws {
        let menus = try shippedMenus()
        let text = golden.hasSuffix(".grub") ? try menus.renderGRUBEntry(entry, for: machine, server: server)
            : try menus.renderEntry(entry, for: machine, server: server)
        try compare(text, golden)
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
