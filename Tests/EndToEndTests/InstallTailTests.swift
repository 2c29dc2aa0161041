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
    /// bios: GRUB in the MBR, iPXE's sanboot hands over. uefi-sb: OVMF with Secure Boot on
    /// and Microsoft's keys, the default signed chain; the ESP holds Debian's signed shim
    /// and GRUB as grub-install leaves them, and the network GRUB's local-disk entry finds
    /// that shim and chainloads it (no firmware setting touched); with --removable-only the
    /// ESP holds only \EFI\BOOT (grub-install --removable) and GRUB falls back to it.
    /// uefi-ipxe: OVMF, the PC listed for iPXE (snponly.efi); iPXE's `exit 1` returns to
    /// the firmware, which boots its next options: the disk's removable path.
    @Test("late_command as served, install once to the disk, first boot reported, rearm", arguments: [
        (["bios"], "b", "BIOS, iPXE's sanboot"),
        (["uefi-sb"], "s", "UEFI with Secure Boot, the signed GRUB chainloads the disk's shim"),
        (["uefi-sb", "--removable-only"], "sr", "UEFI with Secure Boot, the signed GRUB chainloads the disk's removable path"),
        (["uefi-ipxe"], "i", "UEFI with iPXE, its exit hands back to the firmware, which boots the disk"),
    ])
    func tail(options: [String], letter: String, what: String) async throws {
        let result = try await RealFirmwareTests.run("scripts/e2e/install-tail.sh", options + ["--limit", "420"], limit: 1500)
        FullChainTests.expectPass("install tail, \(what)", result, passLine: "e2e[tail\(letter)]: PASS")
    }
}
}
