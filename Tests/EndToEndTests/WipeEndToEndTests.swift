import Foundation
import Testing

/// Issue 19 end to end (scripts/e2e/wipe-boot.sh): a QEMU PC with an AHCI disk, an NVMe
/// disk and an SD card on an SDHCI controller (standing for a cheap laptop's eMMC: same bus,
/// driver and agent path) full of a known pattern and a fourth disk attached read-only boots
/// "Diagnostic et effacement" through garage-pxe (its default in a test copy of the menus),
/// in the image this run builds with `garage-pxe import wipe`. The script checks the disk
/// images themselves (no byte of the pattern, zeros over their whole size; the read-only one
/// unchanged), the journal (machine.inventoried with RAM, CPU and the four serials;
/// disk.wiped x3, each with the method it really got and why: NVMe Format for the NVMe disk,
/// an overwrite for the others; disk.wipe.failed for the read-only one), the signed certificate
/// (`certificate`, `verify`, a one-byte change rejected) and the machine's bench page in a
/// real headless Chromium; it prints the inventory and erase times and the throughput
/// against dd. Nested in RealFirmwareTests so its `.serialized` holds here too.
extension RealFirmwareTests {
@Suite("diagnostic and erase end to end", .serialized)
struct WipeEndToEndTests {
    @Test("a PC with four disks is inventoried, three disks (AHCI, NVMe by NVMe Format, SD/eMMC) erased and read back, the read-only one reported NOT erased, with a signed certificate")
    func eraseThreeDisks() async throws {
        // Bounded: the image build (first run: ~80 packages from the archive), then one TCG guest.
        let result = try await RealFirmwareTests.run("scripts/e2e/wipe-boot.sh", ["bios", "--limit", "420"], limit: 1500)
        FullChainTests.expectPass("diagnostic and erase", result, passLine: "e2e[wipeb]: wipe bios PASS")
    }

    /// The same PC with Secure Boot on (OVMF's Secure Boot build, Microsoft's keys): shim,
    /// Debian's signed GRUB, the GRUB menu's erase entry, Debian's signed kernel of the
    /// diagnostic image. Runs after the BIOS test so the image is in the cache.
    @Test("the same erase through the Secure Boot chain (shim, signed GRUB, signed kernel)")
    func eraseUnderSecureBoot() async throws {
        let result = try await RealFirmwareTests.run("scripts/e2e/wipe-boot.sh", ["uefi-sb", "--limit", "600"], limit: 1500)
        FullChainTests.expectPass("diagnostic and erase, Secure Boot", result, passLine: "e2e[wipeu]: wipe uefi-sb PASS")
    }
}
}
