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
        var choice = choice(for: machine)
        guard installed, policy.enabled else { return choice }
        let named = policy.entry.flatMap { id in choice.entries.first { $0.id == id } }
        guard let target = named ?? choice.entries.first(where: { $0.kind == .localDisk }) else { return choice }
        choice.defaultEntry = target
        choice.installed = true
        return choice
    }
}
