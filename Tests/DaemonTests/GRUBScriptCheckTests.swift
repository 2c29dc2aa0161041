import BootMenus
@testable import Daemon
import Foundation
import Testing

/// GRUB's own parser (grub-script-check, Debian's grub-common) reads every GRUB document
/// the shipped menus give a PC: grub.cfg, each machine's menu armed and installed, each
/// entry. The same code backs `garage-pxe check`; a broken template must be caught.
@Suite("GRUB configurations parse with grub-script-check")
struct GRUBScriptCheckTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let server = ServerSettings(baseURL: "http://10.99.0.1:8080", address: "10.99.0.1", site: "Atelier Garage")
    static let images = ["debian-13-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")]

    static func menus(_ directory: String) throws -> MenuSet {
        try MenuSet.load(directory: directory, images: images, imagesDirectory: "/var/lib/garage-pxe/images")
    }

    @Test("every GRUB document of the shipped menus parses")
    func shippedMenusParse() throws {
        let checker = try #require(GRUBScriptCheck.checker, "grub-script-check is missing: install grub-common (scripts/install-deps.sh test)")
        let menus = try Self.menus(Self.repo.appendingPathComponent("pxe-menus").path)
        let documents = GRUBScriptCheck.documents(menus, server: Self.server)
        // grub.cfg, plus per sample machine (no group, the one machines line): two menus and its entries.
        #expect(documents.count >= 1 + 2 * (2 + 3))
        #expect(documents.contains { $0.name == "grub.cfg" })
        #expect(GRUBScriptCheck.problems(menus, server: Self.server, checker: checker) == [])
    }

    @Test("a template GRUB cannot parse is reported with the document's name")
    func brokenTemplateCaught() throws {
        let checker = try #require(GRUBScriptCheck.checker, "grub-script-check is missing: install grub-common (scripts/install-deps.sh test)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-grub-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Self.repo.appendingPathComponent("pxe-menus"), to: dir)
        let entry = dir.appendingPathComponent("templates/entry.grub.mustache")
        // An `if` never closed by `fi`: a mistake an admin editing the template could make.
        try (try String(contentsOf: entry, encoding: .utf8) + "if [ -n \"$x\" ]; then\n  echo oops\n").write(to: entry, atomically: true, encoding: .utf8)
        let problems = GRUBScriptCheck.problems(try Self.menus(dir.path), server: Self.server, checker: checker)
        #expect(!problems.isEmpty)
        #expect(problems.allSatisfy { $0.hasPrefix("GRUB cannot parse the entry ") })
        #expect(GRUBScriptCheck.parse("menuentry 'x' {\n  echo x\n}\n", checker: checker) == nil)
    }
}
