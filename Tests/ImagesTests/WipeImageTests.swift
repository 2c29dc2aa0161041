import Foundation
import Images
import Testing
import TestSupport

/// `garage-pxe import wipe`: the diagnostic and erase image built from Debian's packages
/// (apt downloads them from the host's archive; GARAGE_PXE_DEB_CACHE keeps them between
/// runs, each reused file checked against apt's SHA-256), then checked as a PC would need
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
        let cache = ProcessInfo.processInfo.environment["GARAGE_PXE_DEB_CACHE"] ?? "/var/tmp/garage-pxe-wipe-debs"
        let built = try run("/usr/bin/env", ["GARAGE_PXE_DEB_CACHE=\(cache)", Repo.binary, "import", "wipe",
                                             "--config", Repo.path("config/garage-pxe.yaml"), "--images", images.path,
                                             "--builder", Repo.path("pxe-wipe/build-image.sh")], limit: 1800)
        #expect(built.output.contains("imported diagnostic-amd64: garage-pxe-diagnostic linux-image-"), "\(built.output)")
        let folder = images.appendingPathComponent("diagnostic-amd64")
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
        for driver in ["/ahci.ko", "/nvme.ko", "/sd_mod.ko", "/e1000.ko", "/e1000e.ko", "/virtio_net.ko", "/r8169.ko", "/usb-storage.ko", "/virtio_pci.ko", "/virtio_scsi.ko", "/t10-pi.ko"] {
            #expect(dep.contains(driver), "\(driver) in modules.dep")
        }
    }
}
