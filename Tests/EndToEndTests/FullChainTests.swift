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

    /// What must not boot, and must say so: a menu entry whose kernel file has gone shows
    /// a readable error on a BIOS PC's console and an image.failed event; a PC with Secure
    /// Boot on (OVMF's Secure Boot build, Microsoft's keys, as a PC sold with Windows)
    /// offered an unsigned loader (iPXE's snponly.efi) by PXE or by UEFI HTTP boot must not
    /// run it, or the signed chain reaching the installer (fourAtOnce, httpBoot) would prove
    /// nothing. No PC goes to the installer alone: fourAtOnce and httpBoot run the same
    /// checks on every path, and the test run's time is better spent elsewhere.
    @Test("a missing kernel fails readably; Secure Boot refuses an unsigned loader by PXE and by UEFI HTTP boot")
    func refusals() async throws {
        async let failure = RealFirmwareTests.run("scripts/e2e/fail-kernel.sh", ["180"], limit: 300)
        async let refused = RealFirmwareTests.run("scripts/e2e/secureboot-refuses.sh", ["180"], limit: 360)
        async let refusedHTTP = RealFirmwareTests.run("scripts/e2e/secureboot-refuses.sh", ["180", "http"], limit: 360)
        Self.expectPass("missing kernel", try await failure, passLine: "e2e[fail]: PASS")
        Self.expectPass("secure boot, unsigned loader", try await refused, passLine: "e2e[sbrefuse]: PASS")
        Self.expectPass("UEFI HTTP boot, Secure Boot, unsigned loader", try await refusedHTTP, passLine: "e2e[sbrefuseh]: PASS")
    }

    /// UEFI HTTP boot with the real firmware: OVMF with its PXE turned off asks for an
    /// `HTTPClient` offer, gets the signed shim's URL and fetches shim, GRUB and grub.cfg
    /// over HTTP; Secure Boot off, and on (OVMF's Secure Boot build, Microsoft's keys).
    /// The same Secure Boot PC offered iPXE's URL must refuse it: refusals().
    @Test("UEFI HTTP boot, Secure Boot off and on: the signed chain over HTTP reaches the installer")
    func httpBoot() async throws {
        let signed = try await RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["http", "http-sb", "--limit", "600"], limit: 720)
        Self.expectPass("UEFI HTTP boot", signed, passLine: "e2e[hk]: http http-sb PASS")
    }

    /// Every chain side by side in one run (the script prints power-on -> installer.started
    /// for each): BIOS with iPXE, UEFI with iPXE, UEFI with the signed chain and Secure Boot
    /// off, and on (its negative control, an unsigned loader refused: refusals()).
    @Test("four PCs at once: BIOS, UEFI with iPXE, UEFI signed chain, UEFI Secure Boot; all reach installer.started")
    func fourAtOnce() async throws {
        let result = try await RealFirmwareTests.run("scripts/e2e/install-boot.sh", ["bios", "uefi-ipxe", "uefi", "uefi-sb", "--limit", "900"],
                                                     limit: 1020)
        Self.expectPass("four PCs", result, passLine: "e2e[bius]: bios uefi-ipxe uefi uefi-sb PASS")
    }
}
}
