@testable import BootMenus
import Foundation
import Testing
import YAMLDiagnostics

/// Inputs that crashed a fuzz target (Fuzz/, `make fuzz`), kept as they were found under
/// Tests/Fixtures/fuzz/. Each must now give what the target checks for.
@Suite("fuzz regressions: menu.yaml")
struct FuzzRegressionTests {
    static let references = MenuReferences(
        templates: ["menu.ipxe", "entry.ipxe", "bootstrap.ipxe", "preseed-debian.cfg",
                    "infos-machine.ipxe"],
        postinstallScripts: ["atelier.sh"],
        images: ["debian-13-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")],
        imagesDirectory: "/nonexistent-garage-pxe-fuzz")

    static func fixture(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz/\(name)")
        return String(decoding: try Data(contentsOf: url), as: UTF8.self)
    }

    @Test("every diagnostic names a real line and column of the file", arguments: ["menu-column-zero.yaml", "menu-crlf-line-count.yaml"])
    func positioned(name: String) throws {
        let text = try Self.fixture(name)
        let lines = text.utf8.count { $0 == 0x0a } + 1  // bytes: "\r\n" is one Character
        do throws(SourceDiagnostics) {
            _ = try MenuFile.parse(text, file: "menu.yaml", references: Self.references)
            Issue.record("the mutated menu was accepted")
        } catch {
            #expect(!error.diagnostics.isEmpty)
            for d in error.diagnostics {
                #expect(d.line >= 1 && d.line <= lines + 1, "\(d)")
                #expect(d.column >= 1, "\(d)")
            }
        }
    }

    @Test("a lone CR (YAML counts it as a line, editors do not) is refused at its own line and column")
    func loneCarriageReturn() throws {
        let text = try Self.fixture("menu-column-zero.yaml")
        do throws(SourceDiagnostics) {
            _ = try MenuFile.parse(text, file: "menu.yaml", references: Self.references)
        } catch {
            #expect(error.diagnostics.map(\.line) == [22])
            #expect(error.diagnostics.map(\.column) == [5])
            #expect(error.description.contains("carriage return (CR) that is not part of a CR LF line end"))
        }
    }

    @Test("CR LF line ends are fine: the shipped menu saved with them parses the same")
    func crlfMenu() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("pxe-menus/menu.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        let lf = try MenuFile.parse(text, file: "menu.yaml", references: Self.references)
        let crlf = try MenuFile.parse(text.replacingOccurrences(of: "\n", with: "\r\n"), file: "menu.yaml", references: Self.references)
        #expect(crlf.entries.map(\.id) == lf.entries.map(\.id))
        for separator in ["\u{85}", "\u{2028}", "\u{2029}", "\r"] {
            let broken = text.replacingOccurrences(of: "\ntitle:", with: "\n\(separator)title:")
            #expect(throws: SourceDiagnostics.self) { try MenuFile.parse(broken, file: "menu.yaml", references: Self.references) }
        }
    }
}
