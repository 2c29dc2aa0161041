import Foundation
import TestSupport

/// Runs a bash script next to a real systemd-journald of its own (private-journald.sh, in
/// a private mount namespace: the host's journal never sees a test event). The script's
/// output comes back split on its `=== name` lines.
enum PrivateJournald {
    static let helper = Repo.path("Tests/InstallJournalTests/private-journald.sh")

    static func run(_ script: String, _ arguments: [String], limit: Double = 120) throws -> [String: String] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-journal-\(getpid())-\(UInt32.random(in: 0..<1_000_000)).sh")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try TestSupport.run("/usr/bin/unshare", ["-m", "--propagation", "private", helper, "/bin/bash", file.path] + arguments,
                                         limit: limit).output
        var sections: [String: String] = [:]
        var current = "preamble"
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("=== ") { current = String(line.dropFirst(4)) } else { sections[current, default: ""] += line + "\n" }
        }
        return sections
    }
}

/// A network namespace for the daemon (10.99.0.1 on its eth0) and an images folder with a
/// test image; `remove()` deletes both.
struct DaemonWorkspace {
    let ns: NetworkNamespace
    let work: URL
    var images: URL { work.appendingPathComponent("images") }

    init(prefix: String) throws {
        ns = try NetworkNamespace(prefix: prefix)
        work = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns.name)-work")
        do { try TestImages.create(in: work.appendingPathComponent("images")) } catch { ns.remove(); throw error }
    }

    func remove() {
        try? FileManager.default.removeItem(at: work)
        ns.remove()
    }
}
