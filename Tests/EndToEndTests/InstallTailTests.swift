import Foundation
import Testing

/// The install's tail and the delivery, for real (scripts/e2e/install-tail.sh): a Debian 13
/// root made by debootstrap through Debian's package cache (apt-cacher-ng, which the served
/// preseed names as the installer's proxy: installer.proxy auto), the late_command exactly
/// as garage-pxe served it in the PC's preseed (post-install script, postinstall-done,
/// finished, first-boot service), the disk partitioned like the preseed's recipe with its
/// boot loader as the installer leaves it; then the PC powers on with the network first:
/// install once sends it to its disk, the installed Debian boots under systemd and reports
/// its first boot (machine.delivered); every event in order with one install ID; `rearm`
/// and one more network boot shows the installer as default again. Nested in
/// RealFirmwareTests so that its `.serialized` holds: never more than four guests at once.
extension RealFirmwareTests {
@Suite("the install's tail to a delivered PC")
struct InstallTailTests {
    /// Runs install-tail.sh with these options (bounded) and expects its PASS line.
    static func tail(_ options: [String], letter: String, what: String) async throws {
        let result = try await RealFirmwareTests.run("scripts/e2e/install-tail.sh", options + ["--limit", "420"], limit: 1500)
        FullChainTests.expectPass("install tail, \(what)", result, passLine: "e2e[tail\(letter)]: PASS")
    }

    // One test per firmware path (each 2-6 minutes under TCG), so that one can be run alone
    // (swift test --filter InstallTailTests/uefiIPXE).

    /// GRUB in the MBR, iPXE's sanboot hands over.
    @Test("BIOS: late_command as served, install once, iPXE's sanboot to the disk, first boot reported, rearm")
    func bios() async throws { try await Self.tail(["bios"], letter: "b", what: "BIOS, iPXE's sanboot") }

    /// OVMF with Secure Boot off, the default signed chain: the network GRUB's local-disk
    /// entry finds the ESP's shim (as grub-install leaves it) and chainloads it.
    @Test("UEFI, Secure Boot off: the signed GRUB chainloads the disk's shim, first boot reported, rearm")
    func uefi() async throws {
        try await Self.tail(["uefi"], letter: "u", what: "UEFI, Secure Boot off, the signed GRUB chainloads the disk's shim")
    }

    /// OVMF with Secure Boot on and Microsoft's keys, the default signed chain: the same
    /// hand-over, with shim, GRUB and the kernel checked by the firmware.
    @Test("UEFI with Secure Boot: the signed GRUB chainloads the disk's shim, first boot reported, rearm")
    func uefiSecureBoot() async throws {
        try await Self.tail(["uefi-sb"], letter: "s", what: "UEFI with Secure Boot, the signed GRUB chainloads the disk's shim")
    }

    /// The ESP holds only \EFI\BOOT (grub-install --removable): GRUB falls back to it.
    @Test("UEFI with Secure Boot, removable path only: the signed GRUB chainloads \\EFI\\BOOT\\BOOTX64.EFI")
    func uefiSecureBootRemovable() async throws {
        try await Self.tail(["uefi-sb", "--removable-only"], letter: "sr",
                            what: "UEFI with Secure Boot, the signed GRUB chainloads the disk's removable path")
    }

    /// OVMF, the PC listed under proxy_dhcp.uefi_ipxe only: the shipped iPXE loader
    /// (snponly.efi); its `exit 1` returns to the firmware, which boots its next options:
    /// the disk's removable path.
    @Test("UEFI with iPXE (the default loader): its exit hands back to the firmware, which boots the disk")
    func uefiIPXE() async throws {
        try await Self.tail(["uefi-ipxe"], letter: "i", what: "UEFI with iPXE, its exit hands back to the firmware, which boots the disk")
    }
}
}
