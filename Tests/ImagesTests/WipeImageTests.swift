import Foundation
import Images
import Testing
import TestSupport

/// `garage-pxe import wipe`: the diagnostic and erase image built from Debian's packages
/// (apt downloads them from the host's archive; the cache folder keeps them between runs,
/// each reused file checked against apt's SHA-256, and only the latest build's packages and
/// image), then checked as a PC would need
/// it: Debian's signed kernel, and in the initrd every tool running with only the
/// libraries the image holds (chroot), the agent, /init, and the disk and NIC drivers.
@Suite("diagnostic image from Debian packages", .serialized)
struct WipeImageTests {
    @Test("import wipe: signed kernel, tools that run from the initrd alone, agent, drivers")
    func build() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-wipe-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let images = work.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        // The cache folder (kept between runs: the packages are downloaded once), seeded with
        // what older builds would have left: another package version, an image built from
        // other packages (and a half-written copy of one), and a file the build did not make.
        let cache = URL(fileURLWithPath: "/var/tmp/garage-pxe-wipe-cache")
        let debs = cache.appendingPathComponent("debs"), cachedImages = cache.appendingPathComponent("images")
        for dir in [debs, cachedImages.appendingPathComponent("0123456789abcdef01234567"), cachedImages.appendingPathComponent("0123456789abcdef01234567.4242")] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        try Data("old".utf8).write(to: debs.appendingPathComponent("smartmontools_6.0-1_amd64.deb"))
        try Data("old".utf8).write(to: cachedImages.appendingPathComponent("0123456789abcdef01234567/SHA256SUMS"))
        try Data("an admin's note".utf8).write(to: cache.appendingPathComponent("debs/NOTES.txt"))
        func importWipe() throws -> String {
            try run(Repo.binary, ["import", "wipe", "--config", Repo.path("config/garage-pxe.yaml"), "--images", images.path,
                                  "--cache", cache.path, "--builder", Repo.path("pxe-wipe/build-image.sh")], limit: 1800).output
        }
        let built = try importWipe()
        #expect(built.contains("imported diagnostic-amd64: garage-pxe-diagnostic linux-image-"), "\(built)")
        let folder = images.appendingPathComponent("diagnostic-amd64")
        let initrd = try Data(contentsOf: folder.appendingPathComponent("initrd.gz"))
        // Only what the agent needs (no library a tool does not load, no server-only driver).
        #expect(initrd.count < 20 << 20, "initrd.gz is \(initrd.count) bytes")

        // The cache keeps this build only: the old package and images are gone, the note stays.
        let cachedDebs = try FileManager.default.contentsOfDirectory(atPath: debs.path)
        #expect(!cachedDebs.contains("smartmontools_6.0-1_amd64.deb") && cachedDebs.contains("NOTES.txt"), "\(cachedDebs)")
        #expect(cachedDebs.contains { $0.hasPrefix("smartmontools_") } && cachedDebs.contains { $0.hasPrefix("linux-image-") })
        let kept = try FileManager.default.contentsOfDirectory(atPath: cachedImages.path).filter { !$0.hasPrefix(".") }
        #expect(kept.count == 1 && kept.first?.count == 24 && kept.first != "0123456789abcdef01234567", "\(kept)")
        // The next import reuses it (same packages, same pxe-wipe files), and imports the same initrd.
        let again = try importWipe()
        #expect(again.contains("build-image: reused"), "\(again)")
        #expect(try Data(contentsOf: folder.appendingPathComponent("initrd.gz")) == initrd)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cachedImages.path).filter { !$0.hasPrefix(".") } == kept)
        let metadata = try JSONDecoder().decode(ImageMetadata.self, from: Data(contentsOf: folder.appendingPathComponent("image.json")))
        #expect(metadata.verifiedAgainstSHA256SUMS && metadata.files.keys.sorted() == ["initrd.gz", "linux"])

        // Debian's kernel as shipped: a PE image with an Authenticode certificate table,
        // signed by Debian's Secure Boot signer.
        let kernel = try Data(contentsOf: folder.appendingPathComponent("linux"))
        #expect(kernel.starts(with: Array("MZ".utf8)))
        let pe = Int(kernel[0x3C]) | Int(kernel[0x3D]) << 8
        #expect(kernel[pe..<pe + 4].elementsEqual([0x50, 0x45, 0, 0]))
        let optional = pe + 24
        #expect(Int(kernel[optional]) | Int(kernel[optional + 1]) << 8 == 0x20B, "PE32+")
        let certificateTable = optional + 112 + 4 * 8 // data directory 4 of a PE32+ optional header
        let tableSize = (0..<4).reduce(0) { $0 | Int(kernel[certificateTable + 4 + $1]) << (8 * $1) }
        #expect(tableSize > 0, "the kernel carries a signature")
        #expect(kernel.range(of: Data("Debian Secure Boot Signer".utf8)) != nil)

        // The initrd, unpacked: each tool runs with the image's own libraries only.
        let root = work.appendingPathComponent("initrd")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try run("/bin/sh", ["-c", "cd \"$1\" && zcat \"$2\" | busybox cpio -i -d 2>/dev/null", "sh", root.path,
                            folder.appendingPathComponent("initrd.gz").path])
        let versions = try run("/usr/sbin/chroot", [root.path, "/bin/sh", "-c", """
            PATH=/bin:/usr/bin
            smartctl --version | head -n 1; hdparm -V; nvme version; dmidecode --version; cmp --version | head -n 1
            busybox | head -n 1; blockdev --help 2>&1 | head -n 1
            """]).output
        for expected in ["smartctl 7.", "hdparm v9", "nvme version 2", "cmp (GNU diffutils)", "BusyBox v1.35"] {
            #expect(versions.contains(expected), "\(expected): \(versions)")
        }
        #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("init").path))
        #expect(try Data(contentsOf: root.appendingPathComponent("usr/bin/garage-pxe-agent"))
            == Data(contentsOf: URL(fileURLWithPath: Repo.path("pxe-wipe/garage-pxe-agent.sh"))))
        let modules = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("lib/modules").path)
        let dep = try String(contentsOf: root.appendingPathComponent("lib/modules/\(modules.first ?? "")/modules.dep"), encoding: .utf8)
        for driver in ["/ahci.ko", "/nvme.ko", "/sd_mod.ko", "/e1000.ko", "/e1000e.ko", "/virtio_net.ko", "/r8169.ko", "/usb-storage.ko", "/virtio_pci.ko",
                       "/virtio_scsi.ko", "/t10-pi.ko", "/xhci-pci.ko", "/usbhid.ko", "/r8152.ko",
                       // eMMC (and SD cards) on SDHCI controllers, PCI or ACPI-enumerated: cheap laptops' soldered storage
                       "/mmc_block.ko", "/sdhci.ko", "/sdhci-pci.ko", "/sdhci-acpi.ko", "/mmc_core.ko"] {
            #expect(dep.contains(driver), "\(driver) in modules.dep")
        }
        // Each driver with the modules it needs, e.g. Realtek's r8169 with the PHY library.
        let r8169 = dep.split(separator: "\n").first { $0.hasPrefix("kernel/drivers/net/ethernet/realtek/r8169.ko:") } ?? ""
        #expect(r8169.contains("/libphy.ko"), "\(r8169)")
        let sdhciPCI = dep.split(separator: "\n").first { $0.hasPrefix("kernel/drivers/mmc/host/sdhci-pci.ko:") } ?? ""
        #expect(sdhciPCI.contains("/sdhci.ko") && sdhciPCI.contains("/mmc_core.ko"), "\(sdhciPCI)")
        for line in dep.split(separator: "\n") {
            for needed in line.split(separator: " ").dropFirst() {
                #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("lib/modules/\(modules.first ?? "")/\(needed)").path), "\(line)")
            }
        }
        // No server-only family (Fibre Channel, data-centre NICs).
        #expect(!dep.contains("/qla2xxx/") && !dep.contains("/mellanox/") && !dep.contains("/lpfc/"))
    }
}
