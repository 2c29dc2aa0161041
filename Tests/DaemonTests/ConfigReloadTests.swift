@testable import Daemon
import Foundation
import Testing
import TestSupport

/// SIGHUP's classification of the configuration (GaragePXEConfig.reloadKeys): complete,
/// applied as classified, and the README's reload section says the same.
@Suite("configuration reload classification")
struct ConfigReloadTests {
    @Test("every stored property of GaragePXEConfig has exactly one row in reloadKeys (a new property without one fails here)")
    func everyPropertyClassified() {
        let properties = GaragePXEConfig.storedProperties(of: GaragePXEConfig()).map(\.path)
        let classified = GaragePXEConfig.reloadKeys.map(\.propertyPath)
        #expect(properties.count > 30, "the walk found too few properties: \(properties)")
        #expect(Set(properties).count == properties.count)
        #expect(Set(classified).count == classified.count, "a property classified twice: \(classified)")
        let missing = Set(properties).subtracting(classified).sorted()
        let unknown = Set(classified).subtracting(properties).sorted()
        #expect(missing.isEmpty, "not in GaragePXEConfig.reloadKeys: \(missing)")
        #expect(unknown.isEmpty, "in reloadKeys but not a stored property: \(unknown)")
        let names = GaragePXEConfig.reloadKeys.map(\.name)
        #expect(Set(names).count == names.count, "a YAML key named twice: \(names)")
    }

    @Test("every classified key is a key the shipped config documents")
    func namesAreFileKeys() throws {
        let shipped = try String(contentsOfFile: Repo.path("config/garage-pxe.yaml"), encoding: .utf8)
        for key in GaragePXEConfig.reloadKeys where key.effect != .notAKey {
            let leaf = key.name.split(separator: ".").last.map(String.init) ?? key.name
            #expect(shipped.contains("\(leaf):"), "\(key.name) is not in config/garage-pxe.yaml")
        }
    }

    @Test("a reload plan applies live keys, keeps restart keys at their running values and names both")
    func plan() {
        let running = GaragePXEConfig()
        var loaded = running
        loaded.site = "Atelier du samedi"
        loaded.installer.syslogPort = 5514
        loaded.httpPort = 8080
        loaded.tftp.port = 6969
        loaded.tftp.retries = 3
        let plan = GaragePXEConfig.reloadPlan(running: running, loaded: loaded)
        #expect(plan.applied == ["site", "tftp.retries", "installer.syslog_port"])
        #expect(plan.needRestart == ["http.port", "tftp.port"])
        #expect(plan.config.site == "Atelier du samedi")
        #expect(plan.config.installer.syslogPort == 5514)
        #expect(plan.config.tftp.retries == 3)
        #expect(plan.config.httpPort == running.httpPort)
        #expect(plan.config.tftp.port == running.tftp.port)
        #expect(GaragePXEConfig.reloadPlan(running: running, loaded: running).applied.isEmpty)
        #expect(plan.unclassified.isEmpty, "every changed property has its row")
    }

    /// The README's lines `- applied at once: …` and `- kept until a restart …: …`, their
    /// backquoted keys in the table's order.
    static func readmeKeys(_ line: String, in readme: String) -> [String]? {
        guard let text = readme.split(separator: "\n").first(where: { $0.hasPrefix(line) }) else { return nil }
        return text.dropFirst(line.count).split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }

    @Test("the README's reload section lists the live and the restart keys as the code classifies them")
    func readmeAgrees() throws {
        let readme = try String(contentsOfFile: Repo.path("README.md"), encoding: .utf8)
        #expect(Self.readmeKeys("- applied at once: ", in: readme) == GaragePXEConfig.reloadKeyNames(.live),
                "README.md's '- applied at once:' line should be: \(GaragePXEConfig.reloadKeyNames(.live).map { "`\($0)`" }.joined(separator: ", "))")
        #expect(Self.readmeKeys("- kept until a restart: ", in: readme) == GaragePXEConfig.reloadKeyNames(.restart),
                "README.md's '- kept until a restart:' line should be: \(GaragePXEConfig.reloadKeyNames(.restart).map { "`\($0)`" }.joined(separator: ", "))")
    }
}
