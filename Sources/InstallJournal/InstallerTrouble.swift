// When an installer is stuck or has failed, read from its own syslog: a line it is known to
// follow with a dialog (it then waits for a person), a line that is known to be fatal, or
// silence. Pure: one line in, the trouble it means (if any) out; the watch below keeps,
// per machine, when its installer last spoke, with the time given by the caller (tests move
// it by hand, the daemon reads a monotonic clock).
//
// The list comes from what the installer really sends (Tests/Fixtures/installer-syslog/)
// and from the Debian 12 installer itself: the strings of the binaries in the netboot
// initrd (anna, choose-mirror) and the scripts of the components it downloads later
// (base-installer, grub-installer). Each rule says where its line and its dialog are.
// A line not in the list is never a stall by itself; silence catches the rest (partman,
// for one, logs its questions to /var/log/partman, not to syslog).

/// What a troubling line (or silence) means for the install.
public struct InstallerTrouble: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// The installer waits on a dialog: a person can retry or choose another mirror.
        case stalled
        /// The installer's own text calls it fatal: this install will not finish.
        case failed
    }

    public var outcome: Outcome
    public var cause: InstallerTroubleCause
    /// For the bench, in French, without the "bloqué : " the page and `machines` put in front.
    public var reason: String

    public init(_ outcome: Outcome, _ cause: InstallerTroubleCause, _ reason: String) {
        self.outcome = outcome
        self.cause = cause
        self.reason = reason
    }
}

/// `GARAGE_PXE_CAUSE`: a stable word for `journalctl GARAGE_PXE_CAUSE=…` and scripts.
public enum InstallerTroubleCause: String, Sendable, Codable, CaseIterable {
    /// anna could not fetch one of the installer's own components (.udeb) from the mirror.
    case componentDownload = "component-download"
    /// choose-mirror found the mirror unusable (no such release, broken Release file).
    case mirror
    /// base-installer stopped (debootstrap failed, no kernel could be installed…).
    case baseSystem = "base-system"
    /// grub-installer could not fetch, install or configure GRUB.
    case bootloader
    /// No line from the installer for `installer.stall_seconds`.
    case silence
}

extension InstallerSyslog {
    /// The trouble `line` announces, nil for every other line.
    public static func trouble(_ line: InstallerSyslogLine) -> InstallerTrouble? {
        guard let app = line.appName else { return nil }
        let message = line.message
        switch app {
        case "anna":
            // anna (strings of /bin/anna in the bookworm netboot initrd): after a failed
            // fetch it asks its retriever's `error` command, net-retriever's critical
            // question retriever/net/error ("Réessayer / Changer de miroir / Annuler").
            // A mirror that answers 404 for a .udeb leaves the installer at that dialog.
            if message.hasSuffix("package retrieval failed") {
                return InstallerTrouble(.stalled, .componentDownload, "téléchargement d'un composant depuis le miroir a échoué")
            }
            if message.hasSuffix("bad sha256sum") {
                return InstallerTrouble(.stalled, .componentDownload, "composant téléchargé depuis le miroir corrompu (somme de contrôle fausse)")
            }
        case "net-retriever":
            // Debian 13's net-retriever (trixie capture, Tests/Fixtures/installer-syslog/
            // trixie-bios-release-bad-signature.txt): gpgv refuses the mirror's Release file
            // and the installer waits on the retriever's error dialog.
            if message.hasPrefix("error: Bad signature on") {
                return InstallerTrouble(.stalled, .componentDownload, "signature du fichier Release du miroir refusée")
            }
        case "choose-mirror":
            // choose-mirror.c (2.123+deb12u1): with no usable release it asks the critical
            // mirror/bad or mirror/no-default question. The offline-mirror capture ends
            // on this very line, then silence: the installer waits on that question.
            if message.contains("mirror does not support the specified release") {
                let release = quoted(in: message, after: "release (", before: ")").map { " (\($0))" } ?? ""
                return InstallerTrouble(.stalled, .mirror, "le miroir ne propose pas la version demandée\(release)")
            }
            if message.contains("broken mirror: invalid") {
                return InstallerTrouble(.stalled, .mirror, "miroir défectueux : fichier Release invalide")
            }
            // Logged at debug level, right before the critical mirror/noarch question.
            if message.contains("architecture not supported by selected mirror") {
                return InstallerTrouble(.stalled, .mirror, "le miroir ne propose pas l'architecture de ce PC")
            }
        case "base-installer":
            // library.sh's exit_error: logs "error: exiting on error TEMPLATE", asks the
            // critical TEMPLATE question, then exits 1 (main-menu's failure line follows
            // once a person has answered).
            if let template = quoted(in: message + "\n", after: "exiting on error ", before: "\n") {
                let what = template == "base-installer/debootstrap-failed"
                    ? "l'installation du système de base (debootstrap) a échoué"
                    : template.hasPrefix("base-installer/kernel/") ? "l'installation du noyau a échoué"
                    : "l'installation du système de base s'est arrêtée (\(template))"
                return InstallerTrouble(.stalled, .baseSystem, what)
            }
        case "grub-installer":
            // grub-installer: the two failures its templates call "a fatal error"
            // (grub-installer/grub-install-failed, grub-installer/update-grub-failed).
            if message.hasPrefix("error: Running 'grub-install") {
                return InstallerTrouble(.failed, .bootloader, "GRUB n'a pas pu être installé sur le disque")
            }
            if message.hasPrefix("error: Running '"), message.contains("update-grub") {
                return InstallerTrouble(.failed, .bootloader, "la configuration de GRUB n'a pas pu être écrite (update-grub)")
            }
            // "info: Calling 'apt-install grub-pc' failed", then the critical
            // grub-installer/apt-install-failed question.
            if message.contains("Calling 'apt-install "), message.hasSuffix("' failed") {
                return InstallerTrouble(.stalled, .bootloader, "téléchargement du paquet GRUB depuis le miroir a échoué")
            }
        default:
            break
        }
        return nil
    }

    /// The reason of a stall by silence, e.g. "aucune ligne de l'installateur depuis 5 min".
    public static func silenceTrouble(seconds: Int) -> InstallerTrouble {
        let span = seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds) s"
        return InstallerTrouble(.stalled, .silence, "aucune ligne de l'installateur depuis \(span) (une question attend peut-être à l'écran)")
    }
}

/// Per machine whose install is open and whose installer has spoken: when it last spoke,
/// and whether it is stalled. Times are seconds on any monotonic clock the caller picks.
public struct InstallerStallWatch: Sendable {
    public enum Change: Sendable, Equatable {
        case stalled(InstallerTrouble)
        /// Lines again after a stall.
        case resumed
    }

    private struct Watched: Sendable {
        var lastLine: Double
        var stalled: Bool
    }

    /// Seconds without a line after which a watched installer is stalled.
    public var silenceLimit: Int
    /// Capped (MachineTable), like every per-machine table.
    private var machines = MachineTable<Watched>()

    public init(silenceLimit: Int) {
        self.silenceLimit = silenceLimit
    }

    /// A line from `mac`'s installer at `time`, with the trouble it carries (a failure is
    /// the caller's to close). The change to write, if any: a stalling line stalls (once,
    /// however many follow), any other line ends a stall.
    public mutating func line(from mac: String, at time: Double, trouble: InstallerTrouble?) -> Change? {
        var watched = machines[mac] ?? Watched(lastLine: time, stalled: false)
        watched.lastLine = time
        defer { machines[mac] = watched }
        if let trouble, trouble.outcome == .stalled {
            guard !watched.stalled else { return nil }
            watched.stalled = true
            return .stalled(trouble)
        }
        guard watched.stalled else { return nil }
        watched.stalled = false
        return .resumed
    }

    /// The machines silent for `silenceLimit` seconds at `time`, now stalled (each once).
    public mutating func silences(at time: Double) -> [String] {
        var found: [String] = []
        for mac in machines.keys {
            guard let watched = machines[mac], !watched.stalled, time - watched.lastLine >= Double(silenceLimit) else { continue }
            machines[mac]?.stalled = true
            found.append(mac)
        }
        return found.sorted()
    }

    /// The install ended (finished, failed): its silence means nothing.
    public mutating func close(_ mac: String) { machines[mac] = nil }

    /// A daemon restart: the machine's install is open and its installer spoke before; its
    /// silence counts from `time`.
    public mutating func restore(_ mac: String, stalled: Bool, at time: Double) {
        machines[mac] = Watched(lastLine: time, stalled: stalled)
    }

    public func isStalled(_ mac: String) -> Bool { machines[mac]?.stalled ?? false }
    public func isWatched(_ mac: String) -> Bool { machines[mac] != nil }
    /// Machines dropped to stay within the table's capacity.
    public var evictions: Int { machines.evictions }
}
