import Foundation

/// Runs a bash script next to a private, real systemd-journald in its own mount namespace
/// (Tests/InstallJournalTests/private-journald.sh), so the host's journal never sees a test
/// event. Returns the script's output split on `=== name` lines.
public func underPrivateJournald(_ script: String, _ arguments: [String], limit: Double = 900) throws -> [String: String] {
    try underPrivateMounts(script, arguments, wrapper: [Repo.path("Tests/InstallJournalTests/private-journald.sh")], limit: limit)
}

/// Runs a bash script (behind `wrapper`, if any) in a mount namespace of its own, so what it
/// mounts (a private journald's tmpfs, a procfs with other options) never reaches the host
/// and vanishes when it exits. Returns the script's output split on `=== name` lines.
public func underPrivateMounts(_ script: String, _ arguments: [String], wrapper: [String] = [],
                               limit: Double = 900) throws -> [String: String] {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-script-\(getpid())-\(UInt32.random(in: 0..<1_000_000)).sh")
    try script.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let output = try run("/usr/bin/unshare", ["-m", "--propagation", "private"] + wrapper + ["/bin/bash", file.path] + arguments,
                         limit: limit).output
    var sections: [String: String] = [:]
    var current = "preamble"
    for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("=== ") { current = String(line.dropFirst(4)) } else { sections[current, default: ""] += line + "\n" }
    }
    return sections
}
