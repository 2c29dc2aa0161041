// Route logic through HummingbirdTesting's router framework: requests go straight to the
// router, no socket, no curl. Kept for what a socket adds nothing to (which event a
// request reports, query validation, the jail's refusals); byte ranges, sendfile, slow
// clients and real firmware stay in RealClientTests and the end-to-end tests.

import BootHTTP
import BootMenus
import Foundation
import HummingbirdTesting
import Logging
import NetworkAddresses
import TestSupport
import Testing

@Suite("HTTP route logic, without sockets")
struct RouterLogicTests {
    /// The shipped menus over a temporary images folder; `menus: false` serves none (as
    /// when menu.yaml has errors).
    final class Setup: @unchecked Sendable {
        let root: URL
        let events = EventBox()
        let store: BootContentStore
        let configuration: BootHTTPConfiguration

        init(menus withMenus: Bool = true) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("gpxe-router-\(UUID().uuidString)")
            let image = root.appendingPathComponent("images/debian-13-amd64")
            try FileManager.default.createDirectory(at: image, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: root.appendingPathComponent("tftp"), withIntermediateDirectories: true)
            try Data("kernel".utf8).write(to: image.appendingPathComponent("linux"))
            try Data("initrd".utf8).write(to: image.appendingPathComponent("initrd.gz"))
            try Data("secret\n".utf8).write(to: image.appendingPathComponent(".hidden"))
            let menus = withMenus ? try MenuSet.load(directory: Repo.path("pxe-menus"),
                                                     images: ["debian-13-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")],
                                                     imagesDirectory: image.deletingLastPathComponent().path) : nil
            store = BootContentStore(BootSnapshot(menus: menus, server: RunningBootServer.server))
            configuration = BootHTTPConfiguration(host: "127.0.0.1", port: 0, imagesDirectory: root.appendingPathComponent("images").path,
                                                  tftpRoot: root.appendingPathComponent("tftp").path)
        }

        deinit { try? FileManager.default.removeItem(at: root) }

        /// Runs `body` against the router; returns the events the requests reported.
        func run(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws -> [BootHTTPEvent] {
            var logger = Logger(label: "router-test")
            logger.logLevel = .critical
            let box = events
            let app = BootHTTPServer.application(configuration: configuration, content: store, logger: logger,
                                                 onEvent: { box.append($0) })
            try await app.test(.router, body)
            return events.all
        }
    }

    @Test("an entry script reports menu.chosen with whether the entry installs; a request with no proof opens nothing")
    func entryChosen() async throws {
        let setup = try Setup()
        let mac = try #require(MACAddress("52:54:00:12:34:56"))
        let events = try await setup.run { client in
            try await client.execute(uri: "/boot/debian-13-auto.ipxe?mac=\(mac)&platform=pcbios", method: .get) { response in
                #expect(response.status == .ok)
                // No install token: the request is not the PC's own (no neighbour entry).
                #expect(!String(buffer: response.body).contains("token="))
            }
            try await client.execute(uri: "/boot/disque-local.ipxe?mac=\(mac)&platform=pcbios", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
        let machine = MachineIdentity(mac: mac, platform: .bios)
        #expect(events == [
            .entryChosen(machine: machine, entry: "debian-13-auto", remote: "-", proven: false, installs: true),
            .entryChosen(machine: machine, entry: "disque-local", remote: "-", proven: false, installs: false),
        ])
    }

    @Test("with no valid menus, PCs get the retry script, reported as menus unavailable rather than a refusal")
    func menusUnavailable() async throws {
        let setup = try Setup(menus: false)
        let events = try await setup.run { client in
            try await client.execute(uri: "/boot.ipxe?mac=52:54:00:12:34:56", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("les menus du serveur contiennent des erreurs"))
            }
        }
        #expect(events == [.menusUnavailable(path: "/boot.ipxe", reason: "no valid menus loaded: sent the retry script", remote: "-")])
    }

    @Test("a MAC that is not one is refused before any template sees it", arguments: [
        "52:54:00:12:34", "52:54:00:12:34:5g", "52:54-00:12:34:56", "%0a52:54:00:12:34:56",
    ])
    func badMAC(mac: String) async throws {
        let setup = try Setup()
        let events = try await setup.run { client in
            try await client.execute(uri: "/boot.ipxe?mac=\(mac)", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
        guard case .refused(_, let status, _, _) = try #require(events.first) else {
            Issue.record("not a refusal: \(events)")
            return
        }
        #expect(status == 400)
    }

    @Test("the jail's rule for HTTP: hidden names and traversal are 403, the name never echoed")
    func jail() async throws {
        let setup = try Setup()
        _ = try await setup.run { client in
            for path in ["/images/debian-13-amd64/.hidden", "/images/..%2fimages%2fdebian-13-amd64%2f.hidden", "/images/debian-13-amd64/./linux"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .forbidden, "\(path)")
                    #expect(!String(buffer: response.body).contains("secret"), "\(path)")
                    #expect(!String(buffer: response.body).contains("hidden"), "\(path)")
                }
            }
        }
    }
}
