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
    case menuShown(machine: MachineIdentity, entry: String?, remote: String)
    case entryChosen(machine: MachineIdentity, entry: String, remote: String)
    /// A file (image or boot loader) was sent to the end; `range` is set for partial requests.
    case fileSent(path: String, bytes: Int64, range: String?, remote: String)
    case preseedSent(machine: MachineIdentity, entry: String, remote: String)
    case progress(mac: String, stage: String, remote: String)
    /// `/rearm`: the person at the bench asked for the installer again (install once).
    case rearmed(machine: MachineIdentity, remote: String)
    case refused(path: String, status: Int, reason: String, remote: String)
    /// `/report/inventory` with a valid token: the PC's validated hardware report.
    case inventoried(mac: String, report: InventoryReport, remote: String)
    /// `/report/wipe` with a valid token: one disk's erase, successful or not.
    case diskWipeReported(mac: String, report: DiskWipeReport, remote: String)
}
