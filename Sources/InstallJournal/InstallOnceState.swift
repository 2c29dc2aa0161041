// Install once, as the journal tells it: of a machine's events, the newest of a few kinds
// says whether its last install finished (its network boot then defaults to the local
// disk) or whether it is armed to install again. Reading it from the journal, not from a
// file of ours, is what makes the state survive a restart and lets `garage-pxe rearm`,
// run while the daemon is up, count at the machine's next boot.

public enum InstallOnceState {
    /// The kinds that decide, newest wins: a finished install or a first boot means
    /// installed; a rearm, or an installer that started again (it may have wiped the disk
    /// already), means armed.
    public static let decidingKinds: [InstallEventKind] = [.installerFinished, .machineDelivered, .machineRearmed, .installerStarted]

    /// Whether this event leaves the machine installed.
    public static func isInstalled(after kind: InstallEventKind) -> Bool {
        kind == .installerFinished || kind == .machineDelivered
    }

    /// The machine's deciding event, newest first, from the local journal or from folders
    /// of journal files: one entry read backwards from the tail with a MAC match.
    public static func latestDecidingEvent(mac: String, directories: [String] = []) throws(JournalReadError) -> JournalRecord? {
        try JournalReader.latest(JournalQuery(directories: directories, matches: [.mac: mac], kinds: decidingKinds))
    }
}
