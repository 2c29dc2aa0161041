import Foundation
import Testing
import TestSupport

/// The real daemon binary in a network namespace of its own (its proxyDHCP binds :67 and
/// :4011 there, never on the host), asked over HTTP with curl from inside the namespace.
@Suite("running daemon: menus reload", .serialized,
       .enabled(if: getuid() == 0, "needs root: the daemon runs in a network namespace of its own"))
struct DaemonReloadTests {
    /// A folder with a config, a copy of the shipped menus and one small image.
    struct Setup {
        let dir: URL
        let port = Int.random(in: 20000...40000)
        var menuFile: URL { dir.appendingPathComponent("menus/menu.yaml") }
        var config: URL { dir.appendingPathComponent("garage-pxe.yaml") }
        var log: URL { dir.appendingPathComponent("daemon.log") }

        init(withImage: Bool = true) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-daemon-\(UUID().uuidString)")
            let fm = FileManager.default
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            try fm.copyItem(atPath: Repo.path("pxe-menus"), toPath: dir.appendingPathComponent("menus").path)
            let images = dir.appendingPathComponent("images")
            try fm.createDirectory(at: images, withIntermediateDirectories: true)
            if withImage { try TestImages.create(in: images) }
            try writeConfig()
        }

        private func writeConfig() throws {
            try """
            site: "Atelier Garage"
            http: {port: \(port)}
            tftp: {root: /usr/lib/ipxe, trusted_link_targets: [/boot]}
            paths: {menus: menus, images: images}
            # The load tests' clients all share the one address outside the namespace.
            limits: {max_tftp_transfers_per_client: 64}
            """.write(to: config, atomically: true, encoding: .utf8)
        }

        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    /// GET inside the namespace; the body, or nil on any failure.
    static func get(_ ns: NetworkNamespace, _ url: String, into file: URL) async throws -> String? {
        try? FileManager.default.removeItem(at: file)
        let status = try await runWithoutBlocking("/usr/sbin/ip", ["netns", "exec", ns.name, "/usr/bin/curl", "-s", "-f", "--max-time", "60", "-o", file.path, url])
        return status == 0 ? String(decoding: try Data(contentsOf: file), as: UTF8.self) : nil
    }

    /// Polls (bounded) until `condition` holds, without blocking a thread.
    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Runs `body` with the daemon started (bounded wait) in a namespace of its own;
    /// stops it and deletes the namespace afterwards.
    static func withRunningDaemon(_ setup: Setup, _ body: (NetworkNamespace, Process) async throws -> Void) async throws {
        let ns = try NetworkNamespace(prefix: "gpxhttp")
        defer { ns.remove() }
        let daemon = try ns.spawn([Repo.binary, "serve", "--config", setup.config.path, "--user", "root", "--interface", "eth0", "--address", ns.address,
                                   "--events", "log", "--state", setup.dir.appendingPathComponent("state").path,
                                   "--log-level", "info"], output: setup.log)
        defer { stop(daemon) }
        let started = await Self.eventually(120) { setup.logText().contains("garage-pxe started") }
        try #require(started, "daemon did not start:\n\(setup.logText())")
        try await body(ns, daemon)
    }

    @Test("a bad menu.yaml fed by SIGHUP (or saved) is refused and the previous menu keeps being served; a good one is taken")
    func reload() async throws {
        let setup = try Setup()
        defer { setup.remove() }
        try await Self.withRunningDaemon(setup) { ns, daemon in

            let url = "http://127.0.0.1:\(setup.port)/boot.ipxe?mac=52:54:00:12:34:56&platform=efi"
            let scratch = setup.dir.appendingPathComponent("body")
            let before = try #require(try await Self.get(ns, url, into: scratch))
            #expect(before.contains("menu Atelier Garage - installation reseau"))
            #expect(before.contains("http://\(ns.address):\(setup.port)/boot/${selected}.ipxe"))

            // An unknown key: refused, at its line and column; the old menu stays.
            let good = try String(contentsOf: setup.menuFile, encoding: .utf8)
            try good.replacingOccurrences(of: "timeout: 15", with: "timeout: 15\ncolour: blue").write(to: setup.menuFile, atomically: true, encoding: .utf8)
            kill(daemon.processIdentifier, SIGHUP)
            let refused = await Self.eventually(60) { setup.logText().contains("menu.yaml:11:1: error: unknown key 'colour'") }
            #expect(refused, "no refusal logged:\n\(setup.logText())")
            #expect(setup.logText().contains("menus reload refused, still serving the previous menus"))
            #expect(try await Self.get(ns, url, into: scratch) == before)

            // Fixed, with a new title, and signalled: the new menu is served.
            try good.replacingOccurrences(of: "title: \"Atelier Garage - installation réseau\"", with: "title: \"Atelier du samedi\"")
                .write(to: setup.menuFile, atomically: true, encoding: .utf8)
            kill(daemon.processIdentifier, SIGHUP)
            let renamed = try await Self.eventually(60) { try await Self.get(ns, url, into: scratch)?.contains("menu Atelier du samedi") == true }
            #expect(renamed, "new menu not served:\n\(setup.logText())")

            // Saved without a signal: the folder watch reloads it.
            try good.replacingOccurrences(of: "title: \"Atelier Garage - installation réseau\"", with: "title: \"Atelier du dimanche\"")
                .write(to: setup.menuFile, atomically: true, encoding: .utf8)
            let watched = try await Self.eventually(60) { try await Self.get(ns, url, into: scratch)?.contains("menu Atelier du dimanche") == true }
            #expect(watched, "file change not picked up:\n\(setup.logText())")

            // A broken template saved without a signal: refused too, last good menu stays.
            let template = setup.dir.appendingPathComponent("menus/templates/menu.ipxe.mustache")
            try "#!ipxe\n{{#menu.entries}}\n".write(to: template, atomically: true, encoding: .utf8)
            let templateRefused = await Self.eventually(60) { setup.logText().contains("menu.ipxe.mustache:2:1: error: template syntax") }
            #expect(templateRefused, "template error not logged:\n\(setup.logText())")
            #expect(try await Self.get(ns, url, into: scratch)?.contains("menu Atelier du dimanche") == true)
            #expect(daemon.isRunning)
        }
    }

    @Test("started before any image exists, PCs are told the menus have errors; importing the image brings the menu and the signed chain's files")
    func startsWithoutImage() async throws {
        // Debian 13's tree, as scripts/fetch-debian13-netboot.sh unpacks it (make deps-test).
        let tree = "/var/cache/garage-pxe/debian-13-netboot/root/usr/lib/debian-installer/images/13/amd64/text"
        try #require(FileManager.default.fileExists(atPath: tree),
                     "\(tree) is missing: run scripts/fetch-debian13-netboot.sh (make deps-test)")
        let setup = try Setup(withImage: false)
        defer { setup.remove() }
        try await Self.withRunningDaemon(setup) { ns, daemon in
            #expect(setup.logText().contains("menu.yaml:17:12: error: image 'debian-13-amd64' is not in"))

            let url = "http://127.0.0.1:\(setup.port)/boot.ipxe?mac=52:54:00:12:34:56"
            let scratch = setup.dir.appendingPathComponent("body")
            let placeholder = try #require(try await Self.get(ns, url, into: scratch))
            #expect(placeholder.contains("les menus du serveur contiennent des erreurs"))
            #expect(placeholder.contains("chain --replace --autofree http://\(ns.address):\(setup.port)/boot.ipxe"))
            // Said as what it is: served, yet no menu (not an HTTP refusal with status 200).
            let said = await Self.eventually(10) {
                setup.logText().contains("menu.unavailable path=/boot.ipxe reason=no valid menus loaded: sent the retry script")
            }
            #expect(said, "no menu.unavailable line:\n\(setup.logText())")
            #expect(!setup.logText().contains("status=200"))

            // The admin imports the image; the images folder's watch reloads the menus.
            let status = try await runWithoutBlocking(Repo.binary, ["import", "debian", tree, "--config", setup.config.path])
            #expect(status == 0)
            let menu = try await Self.eventually(60) { try await Self.get(ns, url, into: scratch)?.contains("menu Atelier Garage") == true }
            #expect(menu, "menu not served after the import:\n\(setup.logText())")
            let kernel = try await Self.get(ns, "http://127.0.0.1:\(setup.port)/images/debian-13-amd64/linux", into: scratch)
            #expect(kernel != nil)

            // The signed chain's files come from the image just imported: GRUB's module lists
            // as Debian's tree has them, over HTTP (UEFI HTTP boot) and TFTP (PXE). Shim's
            // optional files are expected 404s (no refusal line), any other missing file is a
            // refusal still.
            let chain = "debian-installer/amd64"
            for name in ["command.lst", "crypto.lst", "fs.lst", "terminal.lst"] {
                let original = try String(contentsOfFile: "\(tree)/\(chain)/grub/x86_64-efi/\(name)", encoding: .utf8)
                #expect(try await Self.get(ns, "http://127.0.0.1:\(setup.port)/\(chain)/grub/x86_64-efi/\(name)", into: scratch) == original)
                #expect(try await Self.get(ns, "tftp://\(ns.address)/\(chain)/grub/x86_64-efi/\(name)", into: scratch) == original)
            }
            for probe in ["revocations_sku.efi", "revocations_sbat.efi", "shim_certificate_0.efi"] {
                #expect(try await Self.get(ns, "http://127.0.0.1:\(setup.port)/\(chain)/\(probe)", into: scratch) == nil)
                #expect(try await Self.get(ns, "tftp://\(ns.address)/\(chain)/\(probe)", into: scratch) == nil)
            }
            #expect(try await Self.get(ns, "http://127.0.0.1:\(setup.port)/\(chain)/grub/x86_64-efi/normal.mod", into: scratch) == nil)
            #expect(try await Self.get(ns, "tftp://\(ns.address)/\(chain)/mmx64.efi", into: scratch) == nil)
            let refusals = await Self.eventually(10) {
                setup.logText().contains("http.refused path=/\(chain)/grub/x86_64-efi/normal.mod") && setup.logText().contains("file=\(chain)/mmx64.efi")
            }
            #expect(refusals, "a real 404 is a refusal still:\n\(setup.logText())")
            #expect(!setup.logText().contains("revocations") && !setup.logText().contains("shim_certificate"),
                    "an expected probe is a debug line only:\n\(setup.logText())")
        }
    }
}
