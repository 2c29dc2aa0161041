import Foundation
import Testing

/// The whole chain with real firmware and the real Debian 13 installer (scripts/e2e/):
/// power on -> proxy offer -> BIOS: iPXE -> menu; UEFI (the default): Debian's signed shim
/// and GRUB over TFTP -> grub.cfg -> the GRUB menu over HTTP; UEFI listed for iPXE:
/// snponly.efi over TFTP, :4011 -> iPXE -> menu; then the default entry -> kernel and initrd
/// over HTTP -> the installer fetches its preseed and sends its syslog. Guests run under TCG (the scripts probe KVM and say which accelerator they use);
/// one PC takes about 75 s on idle cores (5 min measured with other builds on the same
/// 2 cores), four at once 3-10 min, so every run is bounded
/// and the independent runs go side by side. Nested in RealFirmwareTests so that its
/// `.serialized` holds across both suites: never more than four guests at once.
extension RealFirmwareTests {
@Suite("full chain to the Debian installer")
struct FullChainTests {
    /// Prints what the script checked, and fails unless it printed its PASS line and the
    /// accelerator it used (a run never passes silently).
    static func expectPass(_ name: String, _ result: (status: Int32, output: String), passLine: String) {
        print("---- \(name) ----\n\(result.output)")
        let accelerator = result.output.split(separator: "\n").first { $0.contains("accelerator:") }
        print("\(name): \(accelerator.map(String.init) ?? "accelerator not reported")")
        #expect(accelerator != nil, "\(name): the script did not say whether it used KVM or TCG")
        #expect(result.status == 0, "\(name) failed (exit \(result.status)); see the run folder named in the output")
        #expect(result.output.contains(passLine), "\(name): no '\(passLine)' line")
        #expect(!result.output.contains(": FAIL "), "\(name): a check failed")
    }

    @Test("BIOS and UEFI PCs each reach the installer; a missing kernel fails readably")
    func onePCEach() async throws {
        async let bios = RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["bios", "--limit", "480"], limit: 600)
        async let uefi = RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["uefi", "--limit", "480"], limit: 600)
        async let failure = RealFirmwareTests.run("scripts/e2e/fail-kernel.sh", ["180"], limit: 300)
        Self.expectPass("bios", try await bios, passLine: "e2e[b]: bios PASS")
        Self.expectPass("uefi", try await uefi, passLine: "e2e[u]: uefi PASS")
        Self.expectPass("missing kernel", try await failure, passLine: "e2e[fail]: PASS")
    }

    /// Secure Boot on (OVMF's Secure Boot build, Microsoft's keys, as a PC sold with
    /// Windows): the signed chain reaches the installer; the same PC offered an unsigned
    /// loader (iPXE's snponly.efi) must not run it, or the first result would prove nothing.
    @Test("Secure Boot: the signed chain reaches the installer; an unsigned loader is refused")
    func secureBoot() async throws {
        async let signed = RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["uefi-sb", "--limit", "600"], limit: 720)
        async let refused = RealFirmwareTests.run("scripts/e2e/secureboot-refuses.sh", ["180"], limit: 360)
        Self.expectPass("secure boot, signed chain", try await signed, passLine: "e2e[s]: uefi-sb PASS")
        Self.expectPass("secure boot, unsigned loader", try await refused, passLine: "e2e[sbrefuse]: PASS")
    }

    /// UEFI HTTP boot with the real firmware: OVMF with its PXE turned off asks for an
    /// `HTTPClient` offer, gets the signed shim's URL and fetches shim, GRUB and grub.cfg
    /// over HTTP; Secure Boot off, and on (OVMF's Secure Boot build, Microsoft's keys).
    /// The same Secure Boot PC offered iPXE's URL must refuse it (the negative control).
    @Test("UEFI HTTP boot, Secure Boot off and on: the signed chain over HTTP reaches the installer; iPXE over HTTP is refused")
    func httpBoot() async throws {
        async let signed = RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["http", "http-sb", "--limit", "600"], limit: 720)
        async let refused = RealFirmwareTests.run("scripts/e2e/secureboot-refuses.sh", ["180", "http"], limit: 360)
        Self.expectPass("UEFI HTTP boot", try await signed, passLine: "e2e[hk]: http http-sb PASS")
        Self.expectPass("UEFI HTTP boot, Secure Boot, unsigned loader", try await refused, passLine: "e2e[sbrefuseh]: PASS")
    }

    /// Every chain side by side in one run (the script prints power-on -> installer.started
    /// for each): BIOS with iPXE, UEFI with iPXE, UEFI with the signed chain and Secure Boot
    /// off, and on.
    @Test("four PCs at once: BIOS, UEFI with iPXE, UEFI signed chain, UEFI Secure Boot; all reach installer.started")
    func fourAtOnce() async throws {
        let result = try await RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["bios", "uefi-ipxe", "uefi", "uefi-sb", "--limit", "900"],
                                                     limit: 1020)
        Self.expectPass("four PCs", result, passLine: "e2e[bius]: bios uefi-ipxe uefi uefi-sb PASS")
    }
}
}
