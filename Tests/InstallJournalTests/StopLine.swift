/// The daemon's counters as its last log line holding them says (`key=value` words: the
/// STATUS and stop lines, RobustnessCounters); -1 when absent.
func stopLineCount(_ key: String, in log: String?) -> Int {
    (log ?? "").split(separator: "\n").last { $0.contains("\(key)=") }
        .flatMap { line in line.split(separator: " ").first { $0.hasPrefix("\(key)=") } }
        .flatMap { Int($0.split(separator: "=")[1]) } ?? -1
}
