// Install once: a machine whose last install finished boots its local disk by default, so
// a PC left with network boot first in its firmware order does not reinstall in a loop.
// Whether a machine is installed comes from the install journal (the daemon decides);
// here only what that means for its menu, as a pure function of values.

/// `install_once` in garage-pxe.yaml.
public struct InstallOncePolicy: Sendable, Equatable {
    /// false: installed machines get the menu's usual default, like any other.
    public var enabled: Bool
    /// Entry made the default of an installed machine; nil: the first `local-disk` entry
    /// its menu shows.
    public var entry: String?

    public init(enabled: Bool = true, entry: String? = nil) {
        self.enabled = enabled
        self.entry = entry
    }
}

extension BootMenu {
    /// What `machine` gets, knowing whether its last install finished. Every entry stays in
    /// the menu (the person at the bench can still pick the installer); only the default
    /// changes. The policy's entry is used when this machine's menu shows it, else the first
    /// local-disk entry shown; with neither, the usual default stays.
    public func choice(for machine: MachineIdentity, installed: Bool, policy: InstallOncePolicy) -> MachineChoice {
        choice(for: machine, status: installed ? .installed : .armed, policy: policy)
    }

    /// The same, for a decision that may not have been made: an undecided machine is
    /// treated as installed (its disk may hold a finished install that the auto-install
    /// would erase), and its menu says why.
    public func choice(for machine: MachineIdentity, status: InstallOnceStatus, policy: InstallOncePolicy) -> MachineChoice {
        var choice = choice(for: machine)
        guard status != .armed, policy.enabled else { return choice }
        let named = policy.entry.flatMap { id in choice.entries.first { $0.id == id } }
        guard let target = named ?? choice.entries.first(where: { $0.kind == .localDisk }) else { return choice }
        choice.defaultEntry = target
        choice.installed = true
        if case .undecided(let reason) = status { choice.installOnceReason = reason }
        return choice
    }
}

/// What the daemon knows of a machine's last install.
public enum InstallOnceStatus: Sendable, Equatable {
    /// Never installed, or armed again: the menu's usual default.
    case armed
    /// Its last install finished: the local disk by default.
    case installed
    /// Neither the state file nor the journal could tell: the local disk by default (fail
    /// closed), and `reason` (a line for the person at the bench) in the menu.
    case undecided(reason: String)
}
