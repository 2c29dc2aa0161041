import Foundation
import Testing

/// The install's tail and the delivery, for real (scripts/e2e/install-tail.sh): a Debian 13
/// root made by debootstrap through Debian's package cache (apt-cacher-ng, which the served
/// preseed names as the installer's proxy: installer.proxy auto), the late_command exactly
/// as garage-pxe served it in the PC's preseed (post-install script, postinstall-done,
/// finished, first-boot service), the disk partitioned like the preseed's recipe with GRUB
/// in its MBR; then the PC powers on with the network first: install once sends it to its
/// disk (iPXE's sanboot), the installed Debian boots under systemd and reports its first
/// boot (machine.delivered); every event in order with one install ID; `rearm` and one more
/// network boot shows the installer as default again. Nested in RealFirmwareTests so that its
/// `.serialized` holds: never more than four guests at once.
extension RealFirmwareTests {
@Suite("the install's tail to a delivered PC")
struct InstallTailTests {
    /// BIOS only: the UEFI variant (`install-tail.sh uefi`) builds its GPT disk and reaches
    /// iPXE's `exit`, but OVMF has not yet been seen booting the disk after it here.
    @Test("BIOS (sanboot): late_command as served, install once to the disk, first boot reported, rearm")
    func bios() async throws {
        let result = try await RealFirmwareTests.run("scripts/e2e/install-tail.sh", ["bios", "--limit", "420"], limit: 1500)
        FullChainTests.expectPass("install tail, BIOS", result, passLine: "e2e[tailb]: PASS")
    }
}
}
