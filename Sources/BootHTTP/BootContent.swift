// What the HTTP side serves from, swapped whole on reload: a request takes one snapshot
// at its start and renders everything from it, so no request ever mixes an old menu with
// a new template, or sees a half-loaded menus folder.

import BootMenus
import Inventory
import NIOConcurrencyHelpers

public struct BootSnapshot: Sendable {
    /// nil until the menus folder has loaded without errors once: PCs are then sent a
    /// script that says so and retries, rather than nothing at all.
    public var menus: MenuSet?
    public var server: ServerSettings

    public init(menus: MenuSet?, server: ServerSettings) {
        self.menus = menus
        self.server = server
    }
}

public final class BootContentStore: Sendable {
    private let current: NIOLockedValueBox<BootSnapshot>

    public init(_ initial: BootSnapshot) { current = NIOLockedValueBox(initial) }

    public var snapshot: BootSnapshot { current.withLockedValue { $0 } }

    public func replace(with snapshot: BootSnapshot) { current.withLockedValue { $0 = snapshot } }
}

/// What the HTTP side reports; the daemon turns these into log lines (and journal events).
public enum BootHTTPEvent: Sendable, Equatable {
    /// /boot.ipxe without a MAC: a machine is about to identify itself.
    case bootstrapSent(remote: String)
    /// `machine` carries what iPXE said about itself (serial, product…) for the journal.
    /// `proven`: the kernel's neighbour table ties `remote` to that MAC, so the request is
    /// the PC's own; only then may its DMI fields and address be remembered.
    case menuShown(machine: MachineIdentity, entry: String?, remote: String, proven: Bool)
    /// `proven` as above; `installs`: the entry runs the Debian installer. Only a proven
    /// choice of an installer entry opens an install.
    case entryChosen(machine: MachineIdentity, entry: String, remote: String, proven: Bool, installs: Bool)
    /// A file (image or boot loader) was sent to the end; `range` is set for partial requests.
    case fileSent(path: String, bytes: Int64, range: String?, remote: String)
    /// The installer fetched its preseed with its install's token: installer.started.
    case preseedSent(machine: MachineIdentity, entry: String, remote: String)
    /// A preseed fetched without a token (a person reading it): served, arms nothing.
    case preseedRead(machine: MachineIdentity, entry: String, remote: String)
    /// A PC's own report, its token checked.
    case progress(mac: String, stage: String, remote: String)
    /// A request claimed DMI fields for a MAC whose address it does not come from: not stored.
    case identityNotStored(mac: String, remote: String)
    /// `POST /rearm` with the admin token: the machine's next boot installs again (install
    /// once). `by`: "garage-pxe rearm" or "bench page".
    case rearmed(mac: String, by: String, remote: String)
    case refused(path: String, status: Int, reason: String, remote: String)
    /// A file the signed chain asks for on every boot and does without (shim's optional
    /// files, see `BootHTTPConfiguration.signedChainProbe`): answered 404, expected.
    case probeNotFound(path: String, reason: String, remote: String)
    /// No menu could be given (the menus have errors, or no GRUB templates): the PC was
    /// sent a script that says so and retries. Served (HTTP 200), yet the PC boots nothing.
    case menusUnavailable(path: String, reason: String, remote: String)
    /// `/report/inventory` with a valid token: the PC's validated hardware report.
    case inventoried(mac: String, report: InventoryReport, remote: String)
    /// `/report/wipe` with a valid token: one disk's erase, successful or not.
    case diskWipeReported(mac: String, report: DiskWipeReport, remote: String)
}
