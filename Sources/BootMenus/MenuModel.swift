// The menus admins keep in `pxe-menus/menu.yaml`, as values. Loading and validation
// live in MenuFile.swift; choosing what a machine sees lives in MenuSelection.swift.

import NetworkAddresses

/// Firmware family, named the way iPXE's `${platform}` names it.
public enum BootPlatform: String, Sendable, CaseIterable, Hashable {
    case bios = "pcbios"
    case efi = "efi"

    /// Accepts iPXE's names (`pcbios`, `efi`) and the menu file's (`bios`, `efi`).
    public init?(name: String) {
        switch name.lowercased() {
        case "pcbios", "bios": self = .bios
        case "efi", "uefi": self = .efi
        default: return nil
        }
    }

    /// The word used in menu.yaml's `platforms` lists.
    public var menuName: String { self == .bios ? "bios" : "efi" }
}

/// What an entry does when chosen; each kind has its own block in the entry template.
public enum EntryKind: String, Sendable, CaseIterable, Hashable {
    case debianInstaller = "debian-installer"
    case ipxeScript = "ipxe-script"
    case localDisk = "local-disk"
    case chainURL = "chain-url"
    case ipxeShell = "ipxe-shell"
    /// The diagnostic environment (`garage-pxe import wipe`): inventory only, no disk written.
    case diagnostic = "diagnostic"
    /// The same environment, then every disk erased and read back, after a countdown a key
    /// on the PC cancels. Never the menu's own default (see MenuFile).
    case diagnosticErase = "diagnostic-erase"

    /// What Debian's signed GRUB can do for this kind: boot a kernel over HTTP, or leave to
    /// the firmware's next boot option. iPXE scripts, chain URLs and the iPXE shell need
    /// iPXE, so the GRUB menu leaves them out rather than showing entries that fail.
    public var bootsUnderGRUB: Bool { bootsLinux || self == .localDisk }

    /// Boots a kernel and initrd from an image folder.
    public var bootsLinux: Bool { self == .debianInstaller || isDiagnostic }

    public var isDiagnostic: Bool { self == .diagnostic || self == .diagnosticErase }
}

/// The boot loader chain a UEFI PC runs, recorded with its events: iPXE (from proxyDHCP,
/// or a NIC ROM), or the chain Debian signs for Secure Boot (Microsoft-signed shim, then
/// Debian's signed GRUB reading a configuration garage-pxe renders).
public enum BootChain: String, Sendable, CaseIterable, Hashable {
    case ipxe = "ipxe"
    case secureBootShim = "secureboot-shim"
}

public struct MenuEntry: Sendable, Equatable {
    public var id: String
    /// As written (UTF-8, usually French); iPXE output gets an ASCII transliteration.
    public var label: String
    public var kind: EntryKind
    /// Image folder name under the images root (debian-installer entries).
    public var image: String?
    /// Extra kernel arguments, appended after the ones garage-pxe adds.
    public var kernelArguments: String
    /// Preseed template name under templates/ (without `.mustache`); nil: no automatic install.
    public var preseedTemplate: String?
    /// Script under pxe-menus/postinstall/ run at the end of the install.
    public var postinstallScript: String?
    /// Entry script template (without `.mustache`); nil: the shared `entry.ipxe`.
    public var scriptTemplate: String?
    /// Target of a chain-url entry.
    public var chainURL: String?
    public var platforms: Set<BootPlatform>
    /// diagnostic-erase: seconds the PC counts down before erasing (a key cancels).
    public var countdownSeconds: Int
    /// false: a diagnostic entry whose image is not imported yet; left out of every menu
    /// (`garage-pxe check` warns) rather than failing the whole menu file.
    public var imageImported: Bool

    public static let defaultCountdownSeconds = 30

    public init(id: String, label: String, kind: EntryKind, image: String? = nil, kernelArguments: String = "",
                preseedTemplate: String? = nil, postinstallScript: String? = nil, scriptTemplate: String? = nil,
                chainURL: String? = nil, platforms: Set<BootPlatform> = Set(BootPlatform.allCases),
                countdownSeconds: Int = MenuEntry.defaultCountdownSeconds, imageImported: Bool = true) {
        self.id = id
        self.label = label
        self.kind = kind
        self.image = image
        self.kernelArguments = kernelArguments
        self.preseedTemplate = preseedTemplate
        self.postinstallScript = postinstallScript
        self.scriptTemplate = scriptTemplate
        self.chainURL = chainURL
        self.platforms = platforms
        self.countdownSeconds = countdownSeconds
        self.imageImported = imageImported
    }
}

/// Which machines a group takes: any listed MAC, any MAC prefix, or the DMI strings.
public struct GroupMatch: Sendable, Equatable {
    public var macs: Set<MACAddress> = []
    /// Normalised lower-case hex prefixes without separators ("00e04c").
    public var macPrefixes: [String] = []
    /// Case-insensitive patterns where `*` stands for any text; all given must match.
    public var manufacturer: String?
    public var product: String?

    public init(macs: Set<MACAddress> = [], macPrefixes: [String] = [], manufacturer: String? = nil, product: String? = nil) {
        self.macs = macs
        self.macPrefixes = macPrefixes
        self.manufacturer = manufacturer
        self.product = product
    }
}

public struct MachineGroup: Sendable, Equatable {
    public var id: String
    public var match: GroupMatch
    public var defaultEntry: String?
    public var timeoutSeconds: Int?
    /// Entries shown to the group, in menu order; nil shows them all.
    public var entries: [String]?
    /// Appended to every Linux entry's kernel arguments (e.g. `nomodeset` for a GPU).
    public var kernelArguments: String

    public init(id: String, match: GroupMatch = GroupMatch(), defaultEntry: String? = nil, timeoutSeconds: Int? = nil,
                entries: [String]? = nil, kernelArguments: String = "") {
        self.id = id
        self.match = match
        self.defaultEntry = defaultEntry
        self.timeoutSeconds = timeoutSeconds
        self.entries = entries
        self.kernelArguments = kernelArguments
    }
}

/// One known machine, by MAC.
public struct MachineOverride: Sendable, Equatable {
    public var group: String?
    public var defaultEntry: String?
    public var hostname: String?
    public var note: String?

    public init(group: String? = nil, defaultEntry: String? = nil, hostname: String? = nil, note: String? = nil) {
        self.group = group
        self.defaultEntry = defaultEntry
        self.hostname = hostname
        self.note = note
    }
}

public struct BootMenu: Sendable, Equatable {
    public var title: String
    /// 0 waits for a keypress forever.
    public var timeoutSeconds: Int
    public var defaultEntry: String
    public var entries: [MenuEntry]
    public var groups: [MachineGroup]
    public var machines: [MACAddress: MachineOverride]

    public init(title: String, timeoutSeconds: Int, defaultEntry: String, entries: [MenuEntry],
                groups: [MachineGroup] = [], machines: [MACAddress: MachineOverride] = [:]) {
        self.title = title
        self.timeoutSeconds = timeoutSeconds
        self.defaultEntry = defaultEntry
        self.entries = entries
        self.groups = groups
        self.machines = machines
    }

    public func entry(_ id: String) -> MenuEntry? { entries.first { $0.id == id } }
}
