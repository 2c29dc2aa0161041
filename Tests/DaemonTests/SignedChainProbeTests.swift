@testable import Daemon
import Testing

/// The requests Debian's signed chain makes on every UEFI boot for files it does without,
/// as captured from real HTTP boots (and the same seven over TFTP) (OVMF, Debian 13's shim 16 and GRUB 2.12, by
/// scripts/e2e/install-boot.sh http http-sb): seven 404s per boot before this, four of them
/// GRUB's module lists (now served from the image) and three shim's optional files.
@Suite("signed chain: expected probes")
struct SignedChainProbeTests {
    /// Every path a real boot was answered 404 on, in the order of the capture.
    static let capturedNotFound = [
        "debian-installer/amd64/revocations_sku.efi", "debian-installer/amd64/revocations_sbat.efi",
        "debian-installer/amd64/shim_certificate_0.efi", "debian-installer/amd64/grub/x86_64-efi/command.lst",
        "debian-installer/amd64/grub/x86_64-efi/fs.lst", "debian-installer/amd64/grub/x86_64-efi/crypto.lst",
        "debian-installer/amd64/grub/x86_64-efi/terminal.lst",
    ]

    @Test("each captured 404 is either served from the image (GRUB's lists) or an expected probe of shim's")
    func capturedRequestsAreExplained() {
        for path in Self.capturedNotFound {
            let served = SignedChainFiles.grubListPaths.contains(path)
            let probe = SignedChainFiles.expectedProbe(path)
            #expect(served != (probe != nil), "\(path): exactly one of served / expected probe")
        }
        #expect(Set(SignedChainFiles.grubListPaths) == Set(Self.capturedNotFound.filter { $0.hasSuffix(".lst") }))
    }

    @Test("anything else missing stays a refusal: other folders, other names, GRUB's modules, the served files", arguments: [
        "debian-installer/amd64/grub/revocations_sbat.efi", "revocations_sbat.efi", "debian-installer/i386/revocations_sbat.efi",
        "debian-installer/amd64/revocations_sbat.txt", "debian-installer/amd64/mmx64.efi", "debian-installer/amd64/fbx64.efi",
        "debian-installer/amd64/grub/x86_64-efi/normal.mod", "debian-installer/amd64/grubx64.efi", "debian-installer/amd64/bootnetx64.efi",
        "debian-installer/amd64/grub/grub.cfg", "images/debian-13-amd64/linux",
    ])
    func otherPathsAreRefusals(path: String) {
        #expect(SignedChainFiles.expectedProbe(path) == nil)
    }
}
