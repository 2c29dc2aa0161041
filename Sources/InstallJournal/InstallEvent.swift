// The event model of the install journal: one kind per step of a machine's journey (and
// the daemon's own lifecycle), one set of field names. Each kind has a fixed MESSAGE_ID so
// `journalctl MESSAGE_ID=…` and the catalog (systemd/garage-pxe.catalog) find it forever;
// never change an id once shipped.

/// What happened. The raw value is the `GARAGE_PXE_EVENT` field.
public enum InstallEventKind: String, CaseIterable, Sendable, Codable {
    case dhcpOffer = "dhcp.offer"
    case tftpSent = "tftp.sent"
    case tftpFailed = "tftp.failed"
    case menuShown = "menu.shown"
    case menuChosen = "menu.chosen"
    case imageSent = "image.sent"
    /// A kernel or initrd a machine asked for could not be sent (missing, refused).
    case imageFailed = "image.failed"
    case installerStarted = "installer.started"
    case installerStep = "installer.step"
    case installerFailed = "installer.failed"
    /// The installer waits on a dialog (a known line) or has been silent for
    /// `installer.stall_seconds`: a person must look at the PC (GARAGE_PXE_REASON says why).
    case installerStalled = "installer.stalled"
    /// Lines again from an installer that was stalled: back to installing.
    case installerResumed = "installer.resumed"
    case installerFinished = "installer.finished"
    case installerLog = "installer.log"
    case postinstallDone = "postinstall.done"
    case postinstallFailed = "postinstall.failed"
    case machineDelivered = "machine.delivered"
    /// `garage-pxe rearm` or the bench menu: the machine's next network boot installs again.
    case machineRearmed = "machine.rearmed"
    /// The diagnostic environment's inventory of the PC (one per diagnostic boot).
    case machineInventoried = "machine.inventoried"
    /// One disk erased AND read back as the method leaves it.
    case diskWiped = "disk.wiped"
    /// One disk that could not be erased or whose read-back did not verify: never "wiped".
    case diskWipeFailed = "disk.wipe.failed"
    case daemonStarted = "daemon.started"
    case daemonStopping = "daemon.stopping"
    case configReloaded = "config.reloaded"
    case configRefused = "config.refused"

    /// 128-bit MESSAGE_ID, 32 lowercase hex digits (the catalog's `-- ID` lines).
    public var messageID: String {
        switch self {
        case .dhcpOffer: "19ce0a8ab6664b2383b13262583e16a4"
        case .tftpSent: "f5a114a5155a4e138b9b0b5e82d6329f"
        case .tftpFailed: "657ef10c1f434020aef54d2ea0b4ba38"
        case .menuShown: "f8bd6a5682844d7daf6795aa26ee9e5d"
        case .menuChosen: "e2611b292a3043e5a596890c6db74849"
        case .imageSent: "15c872f7b5c3441d80b6116f3a2c7fc0"
        case .imageFailed: "7254c1d915cc4216a3bbb272f9dffa5e"
        case .installerStarted: "e5f65635fd2246799f3167d9ff6558b3"
        case .installerStep: "568510e4caa54223905d0d6fe4012f0b"
        case .installerFailed: "089691caeb6a458b8a9034ae43c975f1"
        case .installerStalled: "387e053e40d94137a5a86336e3b0ca4a"
        case .installerResumed: "4aaa00c70154417bb0ce15598d413ec2"
        case .installerFinished: "39e16924c23e4f8facd3645bc6700d12"
        case .installerLog: "98bc60fa94ca4f6198d02597cef8aa9f"
        case .postinstallDone: "98de6d581af74b72a680f0970d2313e2"
        case .postinstallFailed: "13af03b7fbfd4c12a7f19f6522444aa9"
        case .machineDelivered: "1668cea4f445480c83773f342eded7c1"
        case .machineRearmed: "9b566f6bf2294937be88a75b95194c02"
        case .machineInventoried: "647711557ba24594a9a9ae39fd1432a7"
        case .diskWiped: "9947d84204d842b7ae2b50490545dcc7"
        case .diskWipeFailed: "db7e1975d9d346c8be00b954c2b0d446"
        case .daemonStarted: "a644906ebbad4a96bfb26942a8208b0f"
        case .daemonStopping: "d7a3edf5cc1b45e6bea012d85173e04b"
        case .configReloaded: "fa0d08075de34632917b43bc964d6f0a"
        case .configRefused: "3e5dec7b659e4b419b4a8cf841d3b4fc"
        }
    }

    /// syslog priority: failures are err (3); a stalled installer warning (4); the machine's
    /// milestones notice (5); the chatty per-file events info (6); raw installer lines debug (7).
    public var priority: Int {
        switch self {
        case .tftpFailed, .imageFailed, .installerFailed, .postinstallFailed, .configRefused, .diskWipeFailed: 3
        case .installerStarted, .installerFinished, .machineDelivered, .machineRearmed, .postinstallDone,
             .machineInventoried, .diskWiped,
             .installerResumed, .daemonStarted, .daemonStopping, .configReloaded: 5
        case .installerStalled: 4
        case .installerLog: 7
        default: 6
        }
    }

    public var isFailure: Bool { priority <= 3 }

    /// Whether the event is about one machine (the `machines` view folds these).
    public var concernsMachine: Bool {
        switch self {
        case .daemonStarted, .daemonStopping, .configReloaded, .configRefused: false
        default: true
        }
    }

    /// Ends an install attempt: the attempt's INSTALL_ID is not carried past it.
    public var endsInstall: Bool {
        self == .installerFinished || self == .installerFailed
    }
}

/// The journal fields garage-pxe writes, all `GARAGE_PXE_`-prefixed (journald field names:
/// uppercase, digits, underscore).
public enum InstallField: String, CaseIterable, Sendable, Codable {
    case mac = "GARAGE_PXE_MAC"
    case ip = "GARAGE_PXE_IP"
    case site = "GARAGE_PXE_SITE"
    case event = "GARAGE_PXE_EVENT"
    case stage = "GARAGE_PXE_STAGE"
    case step = "GARAGE_PXE_STEP"
    case entry = "GARAGE_PXE_ENTRY"
    case image = "GARAGE_PXE_IMAGE"
    case file = "GARAGE_PXE_FILE"
    case bytes = "GARAGE_PXE_BYTES"
    case durationMilliseconds = "GARAGE_PXE_DURATION_MS"
    case platform = "GARAGE_PXE_PLATFORM"
    case arch = "GARAGE_PXE_ARCH"
    case uuid = "GARAGE_PXE_UUID"
    case manufacturer = "GARAGE_PXE_MANUFACTURER"
    case product = "GARAGE_PXE_PRODUCT"
    case serial = "GARAGE_PXE_SERIAL"
    case installID = "GARAGE_PXE_INSTALL_ID"
    /// The boot chain a UEFI PC runs: `ipxe` or `secureboot-shim` (Debian's signed shim and GRUB).
    case chain = "GARAGE_PXE_CHAIN"
    /// Why something failed or was refused (error text, TFTP outcome…).
    case reason = "GARAGE_PXE_REASON"
    // machine.inventoried (the DMI strings go to MANUFACTURER, PRODUCT, SERIAL, UUID):
    case cpuModel = "GARAGE_PXE_CPU_MODEL"
    case cpuCores = "GARAGE_PXE_CPU_CORES"
    case memoryBytes = "GARAGE_PXE_MEMORY_BYTES"
    /// `dmi` (installed, SMBIOS memory devices) or `kernel` (what the kernel sees).
    case memorySource = "GARAGE_PXE_MEMORY_SOURCE"
    /// Every disk's serial, space-separated: for people and grep (a serial may itself hold a
    /// space; the exact values are in INVENTORY).
    case diskSerials = "GARAGE_PXE_DISK_SERIALS"
    /// Every NIC's MAC, space-separated: links the PC's other NICs to its record.
    case nicMACs = "GARAGE_PXE_NIC_MACS"
    case batteryWearPercent = "GARAGE_PXE_BATTERY_WEAR_PERCENT"
    /// A to D (Inventory's HealthGrade, documented in README).
    case healthGrade = "GARAGE_PXE_HEALTH_GRADE"
    /// The whole validated report as canonical JSON: the record and the certificate are
    /// rebuilt from the journal alone.
    case inventory = "GARAGE_PXE_INVENTORY"
    // disk.wiped / disk.wipe.failed (REASON says why a wipe failed):
    case diskSerial = "GARAGE_PXE_DISK_SERIAL"
    case diskModel = "GARAGE_PXE_DISK_MODEL"
    case diskBytes = "GARAGE_PXE_DISK_BYTES"
    case wipeMethod = "GARAGE_PXE_WIPE_METHOD"
    /// Why that method and not a stronger one, as the agent found it (DiskWipeReport.methodReason).
    case wipeMethodReason = "GARAGE_PXE_WIPE_METHOD_REASON"
    case wipePasses = "GARAGE_PXE_WIPE_PASSES"
    /// ISO 8601, the PC's clock.
    case wipeStarted = "GARAGE_PXE_WIPE_STARTED"
    case wipeEnded = "GARAGE_PXE_WIPE_ENDED"
    /// verified, mismatch or not-run.
    case verification = "GARAGE_PXE_VERIFICATION"
    /// installer.stalled / installer.failed read from the installer: a stable word for the
    /// cause (InstallerTroubleCause: component-download, mirror, base-system, bootloader, silence).
    case cause = "GARAGE_PXE_CAUSE"
    /// The installer's own syslog line that showed the trouble.
    case installerLine = "GARAGE_PXE_INSTALLER_LINE"
}

/// One event, ready to be written: its kind, its fields and a human sentence.
public struct InstallEvent: Sendable, Equatable {
    public var kind: InstallEventKind
    public var fields: [InstallField: String]
    public var message: String

    public init(_ kind: InstallEventKind, fields: [InstallField: String] = [:], message: String? = nil) {
        self.kind = kind
        var fields = fields.filter { !$0.value.isEmpty }
        fields[.event] = kind.rawValue
        self.fields = fields
        self.message = message ?? Self.defaultMessage(kind, fields)
    }

    /// "tftp.sent 52:54:00:12:34:56 ipxe.efi": the kind, then the machine and what it concerns.
    static func defaultMessage(_ kind: InstallEventKind, _ fields: [InstallField: String]) -> String {
        let parts = [InstallField.mac, .entry, .stage, .step, .file, .diskSerial, .reason].compactMap { fields[$0] }
        return ([kind.rawValue] + parts).joined(separator: " ")
    }

    /// Every journal field of the event, in a stable order (MESSAGE first), as `KEY=value`.
    /// MESSAGE, the line `journalctl` prints, is escaped with LogText (controls as `\xNN`)
    /// so one event reads as one line. The other fields keep their exact bytes:
    /// sd_journal_sendv sends a value holding a newline in journald's binary-safe form, and
    /// readers (history, machines, the bench) get back what the machine sent. The stderr
    /// fallback escapes every value (JournalWriter.fallbackLine).
    public var journalFields: [(key: String, value: String)] {
        var result: [(String, String)] = [
            ("MESSAGE", LogText.escaped(message)), ("MESSAGE_ID", kind.messageID), ("PRIORITY", String(kind.priority)),
            ("SYSLOG_IDENTIFIER", "garage-pxe"),
        ]
        for field in InstallField.allCases {
            if let value = fields[field] { result.append((field.rawValue, value)) }
        }
        return result
    }
}
