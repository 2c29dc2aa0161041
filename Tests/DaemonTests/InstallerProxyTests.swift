import Daemon
import Foundation
import Testing
import TestSupport

/// installer.proxy auto against Debian's real apt-cacher-ng (started by the test with a
/// private config folder, bound only to an address of a network namespace the test makes):
/// `garage-pxe check` on that server says PCs get http://SERVER:3142 while it answers, and
/// none once it is stopped or when something else answers on its port.
@Suite("installer proxy: auto asks the server's apt-cacher-ng", .serialized)
struct InstallerProxyTests {
    @Test("explicit settings are taken as written, without asking the network")
    func explicitSettings() {
        let url = InstallerProxy.decide(.url("http://10.0.0.1:3128"), serverAddress: "192.0.2.1")
        #expect(url == InstallerProxy.Decision(url: "http://10.0.0.1:3128", reason: "installer.proxy names it"))
        #expect(InstallerProxy.decide(.none, serverAddress: "192.0.2.1").url == nil)
    }

    @Test("auto: the real apt-cacher-ng answering, then stopped, then another HTTP server on its port")
    func autoAgainstRealPackageCache() throws {
        let ns = try NetworkNamespace(prefix: "tailacng", address: "10.99.0.1")
        defer { ns.remove() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("garage-pxe-acng-\(UInt32.random(in: 0..<1_000_000))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = Repo.path("scripts/e2e/package-cache.sh")
        let check = {
            try run("/usr/sbin/ip", ["netns", "exec", ns.name, Repo.binary, "check", "--config", Repo.path("config/garage-pxe.yaml"),
                                     "--interface", "eth0", "--address", "10.99.0.1", "--menus", Repo.path("pxe-menus"),
                                     "--images", dir + "/no-images"], allowFailure: true).output
        }

        // apt-cacher-ng itself, in the foreground inside the namespace (the script execs it).
        let acng = try ns.spawn(["/bin/bash", cache, "run", dir, "3142", "10.99.0.1"], output: URL(fileURLWithPath: dir + ".out"))
        defer { try? FileManager.default.removeItem(atPath: dir + ".out") }
        let up = waitUntil(20) { (try? ns.inside { InstallerProxy.decide(.auto, serverAddress: "10.99.0.1").url }) != nil }
        let answering = try check()
        stop(acng)
        #expect(up, "apt-cacher-ng never answered: \((try? String(contentsOfFile: dir + ".out", encoding: .utf8)) ?? "")")
        #expect(answering.contains("installer proxy: http://10.99.0.1:3142 (installer.proxy is auto and apt-cacher-ng answers on 10.99.0.1:3142)"),
                "\(answering)")

        let stopped = try check()
        #expect(stopped.contains("installer proxy: none (installer.proxy is auto and apt-cacher-ng is installed but nothing answers on 10.99.0.1:3142"),
                "\(stopped)")
        // In-process, the same decision the daemon makes at start and at each reload.
        let decision = try ns.inside { InstallerProxy.decide(.auto, serverAddress: "10.99.0.1") }
        #expect(decision.url == nil)

        // Something that is not apt-cacher-ng on its port: no proxy (PCs would get errors).
        let other = try ns.spawn(["/usr/bin/python3", "-m", "http.server", "--bind", "10.99.0.1", "3142", "--directory", dir],
                                 output: URL(fileURLWithPath: dir + "/http.log"))
        defer { stop(other) }
        #expect(waitUntil(10) { (try? ns.inside { InstallerProxy.decide(.auto, serverAddress: "10.99.0.1").reason }).map { $0.contains("not apt-cacher-ng") } ?? false })
        let wrong = try check()
        #expect(wrong.contains("installer proxy: none (installer.proxy is auto and apt-cacher-ng is installed but what answers on 10.99.0.1:3142 is not apt-cacher-ng (HTTP 200)"),
                "\(wrong)")
    }
}
