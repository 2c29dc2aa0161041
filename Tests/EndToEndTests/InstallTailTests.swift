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
///
/// Two paths run side by side per test: one path alone took 270-310 s and the five one
/// after another ~25 minutes of the test run; two side by side took 288 s (uefi and
/// uefi-sb, using 1.5 of the 2 cores). Each run has its own lab, PC and package cache
/// daemon; the script makes them take turns where they fetch through the shared cache
/// folder. One path alone: `sudo scripts/e2e/install-tail.sh MODE`.
extension RealFirmwareTests {
@Suite("the install's tail to a delivered PC")
struct InstallTailTests {
    /// A firmware path to the disk, as one run of install-tail.sh: its options and what it shows.
    struct FirmwarePath: Sendable {
        let options: [String]
        let letter: String
        let what: String
    }

    /// Runs install-tail.sh once per path, all at once (each bounded), and expects each
    /// run's PASS line.
    static func tails(_ paths: [FirmwarePath]) async throws {
        let results = try await withThrowingTaskGroup(of: (FirmwarePath, (status: Int32, output: String)).self) { group in
            for path in paths {
                group.addTask {
                    (path, try await RealFirmwareTests.run("scripts/e2e/install-tail.sh", path.options + ["--limit", "420"], limit: 1500))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (path, result) in results {
            FullChainTests.expectPass("install tail, \(path.what)", result, passLine: "e2e[tail\(path.letter)]: PASS")
        }
    }

    /// The two iPXE hand-overs. BIOS: GRUB in the MBR, iPXE's sanboot hands over. UEFI, the
    /// PC listed under proxy_dhcp.uefi_ipxe only: the shipped iPXE loader (snponly.efi); its
    /// `exit 1` returns to the firmware, which boots its next options: the disk's removable
    /// path.
    @Test("BIOS and UEFI with iPXE: sanboot, and iPXE's exit back to the firmware, boot the disk; first boot reported, rearm")
    func iPXEHandsOver() async throws {
        try await Self.tails([
            FirmwarePath(options: ["bios"], letter: "b", what: "BIOS, iPXE's sanboot"),
            FirmwarePath(options: ["uefi-ipxe"], letter: "i", what: "UEFI with iPXE, its exit hands back to the firmware, which boots the disk"),
        ])
    }

    /// OVMF with Secure Boot off, and on with Microsoft's keys, the default signed chain: the
    /// network GRUB's local-disk entry finds the ESP's shim (as grub-install leaves it) and
    /// chainloads it; with Secure Boot on, shim, GRUB and the kernel are checked by the
    /// firmware.
    @Test("UEFI, Secure Boot off and on: the signed GRUB chainloads the disk's shim, first boot reported, rearm")
    func signedChain() async throws {
        try await Self.tails([
            FirmwarePath(options: ["uefi"], letter: "u", what: "UEFI, Secure Boot off, the signed GRUB chainloads the disk's shim"),
            FirmwarePath(options: ["uefi-sb"], letter: "s", what: "UEFI with Secure Boot, the signed GRUB chainloads the disk's shim"),
        ])
    }

    /// The ESP holds only \EFI\BOOT (grub-install --removable): GRUB falls back to it.
    @Test("UEFI with Secure Boot, removable path only: the signed GRUB chainloads \\EFI\\BOOT\\BOOTX64.EFI")
    func uefiSecureBootRemovable() async throws {
        try await Self.tails([
            FirmwarePath(options: ["uefi-sb", "--removable-only"], letter: "sr",
                 what: "UEFI with Secure Boot, the signed GRUB chainloads the disk's removable path"),
        ])
    }
}
}
