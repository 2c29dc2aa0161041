// One input = one menu.yaml. Any text must give a menu or diagnostics, each naming a real
// line and column of the file (what an admin is shown), never a crash.
import BootMenus
import YAMLDiagnostics

private let references = MenuReferences(
    templates: ["menu.ipxe", "entry.ipxe", "bootstrap.ipxe", "preseed-debian.cfg",
                "infos-machine.ipxe"],
    postinstallScripts: ["atelier.sh"],
    images: ["debian-12-amd64": BootImageFiles(kernel: "linux", initrd: "initrd.gz")],
    imagesDirectory: "/nonexistent-garage-pxe-fuzz")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMenu(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let lineCount = text.utf8.count { $0 == 0x0a } + 1  // bytes: "\r\n" is one Character
    do throws(SourceDiagnostics) {
        _ = try MenuFile.parse(text, file: "menu.yaml", references: references)
    } catch {
        precondition(!error.diagnostics.isEmpty, "refused without a diagnostic")
        for d in error.diagnostics {
            precondition(d.file == "menu.yaml", "diagnostic names another file")
            precondition(d.line >= 1 && d.line <= lineCount + 1, "diagnostic line \(d.line) outside the file (\(lineCount) lines)")
            precondition(d.column >= 1, "diagnostic column \(d.column)")
        }
    }
    return 0
}
