// Turns what the services report (proxy answers, TFTP transfers, HTTP requests) into
// install-journal events with the machine's fields. It also remembers, per machine, what
// later reports lack: the IP a MAC was last seen at (image downloads carry only the
// client's address), the DMI identity iPXE sent, and the current install attempt's id.
// It also reads the installer's syslog for its milestones and its troubles: a line the
// installer follows with a dialog, or silence, makes the PC installer.stalled (checked by
// `checkSilences`, which the daemon calls on a timer), more lines make it installer.resumed.

import BootHTTP
import BootMenus
import DHCP
import Foundation
import InstallJournal
import MachineRecords
import NetworkAddresses
import TFTP
import UDP

public final class InstallEventRecorder: @unchecked Sendable {
    private let writer: JournalWriter
    /// `site` of the configuration: a reload may change it, so it has a lock of its own.
    private var currentSite: String
    private let siteLock = NSLock()
    private var site: String { siteLock.withLock { currentSite } }
    private let lock = NSLock()
    // Guarded by `lock`; reports arrive on the proxy, TFTP and HTTP threads.
    // Each capped (MachineTable): a request with a made-up MAC costs one entry.
    private var macByIP = MachineTable<String>()
    private var identityByMAC = MachineTable<MachineIdentity>()
    private var installIDByMAC = MachineTable<String>()
    /// The last install attempt that ended (finished or failed), per MAC: the installed
    /// system's first boot (machine.delivered) comes after its end and belongs to it.
    private var endedInstallByMAC = MachineTable<String>()
    /// The install attempt whose installer.started was written, per MAC: it is written once
    /// per attempt, before anything else the installer says (see `startInstallLocked`).
    private var startedInstallByMAC = MachineTable<String>()
    /// Machines whose installer.started came from their syslog: the preseed fetch that
    /// follows belongs to that same start and writes nothing.
    private var startedFromSyslog = MachineTable<Bool>()
    /// The entry chosen at the menu (installer.started from syslog names it too) and the
    /// installer step reached (installer.stalled says where it stopped).
    private var entryByMAC = MachineTable<String>()
    private var stepByMAC = MachineTable<String>()
    private var watch: InstallerStallWatch
    /// Monotonic seconds (a wall-clock step must neither stall nor revive an installer).
    private let uptime: @Sendable () -> Double
    /// Held while an installer's events are decided and written (syslog lines, the preseed
    /// fetch, the silence check, an install's end), so their journal order is the order
    /// they were decided in: installer.started before the first step, installer.stalled
    /// before the installer.resumed of the line that follows it. Recursive: `write` takes it
    /// again when an install ends.
    private let sequence = NSRecursiveLock()
    /// Told of every machine event written (install once keeps its own recent writes).
    private let onMachineEvent: @Sendable (InstallEventKind, _ mac: String) -> Void

    /// `stallSeconds`: `installer.stall_seconds`; `uptime`: the silence check's clock
    /// (tests move it by hand).
    public init(writer: JournalWriter, site: String, stallSeconds: Int = GaragePXEConfig.Installer.defaultStallSeconds,
                uptime: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime },
                onMachineEvent: @escaping @Sendable (InstallEventKind, String) -> Void = { _, _ in }) {
        self.writer = writer
        self.currentSite = site
        self.watch = InstallerStallWatch(silenceLimit: stallSeconds)
        self.uptime = uptime
        self.onMachineEvent = onMachineEvent
    }

    /// `installer.stall_seconds` changed (a reload): silences are measured against it from now on.
    public func changeStallSeconds(to seconds: Int) {
        sequence.withLock { lock.withLock { watch.silenceLimit = seconds } }
    }

    /// Events written from now on carry `site` (a reload changed it).
    public func changeSite(to site: String) { siteLock.withLock { currentSite = site } }

    /// Entries the per-machine tables dropped to stay within their capacity.
    public var machineTableEvictions: Int {
        lock.withLock {
            macByIP.evictions + identityByMAC.evictions + installIDByMAC.evictions + startedInstallByMAC.evictions
                + startedFromSyslog.evictions + entryByMAC.evictions + stepByMAC.evictions + endedInstallByMAC.evictions + watch.evictions
        }
    }
    public func flush() { writer.flush() }

    /// The kinds that open, move, stall or end an install attempt: all `restoreOpenInstalls` needs.
    public static let attemptKinds: [InstallEventKind] = [
        .installerStarted, .installerStep, .installerStalled, .installerResumed, .installerFailed, .installerFinished,
    ]

    /// Install attempts still open in the journal (started, neither finished nor failed),
    /// so a restart mid-install keeps the same INSTALL_ID. `records` may leave out the
    /// installer's own lines (installer.log: debug-level, and what a syslog flood is made
    /// of): `installerSpoke(mac, installID)` is then asked, for the few open installs only,
    /// whether that attempt's installer said anything (its stall watch restarts only then).
    public func restoreOpenInstalls(from records: [JournalRecord],
                                    installerSpoke: (_ mac: String, _ installID: String) -> Bool = { _, _ in false }) {
        lock.lock()
        defer { lock.unlock() }
        // Per open install: whether its installer.started was written, whether its
        // installer spoke, and whether its last word on stalls was installer.stalled.
        var spoke: Set<String> = [], stalled: Set<String> = []
        for record in records {
            guard let mac = record[.mac], let kind = record.kind else { continue }
            // A failure the installer's syslog reported did not end the install (UDP is no proof).
            if kind.endsInstall && !Self.saidBySyslog(record) {
                if let id = record[.installID] ?? installIDByMAC[mac] { endedInstallByMAC[mac] = id }
                installIDByMAC[mac] = nil
                startedInstallByMAC[mac] = nil
                spoke.remove(mac)
                stalled.remove(mac)
                continue
            }
            guard let id = record[.installID] else { continue }
            if installIDByMAC[mac] != id { spoke.remove(mac); stalled.remove(mac) }
            installIDByMAC[mac] = id
            switch kind {
            case .installerStarted: startedInstallByMAC[mac] = id
            case .installerLog: spoke.insert(mac)
            case .installerStalled: stalled.insert(mac)
            case .installerResumed: stalled.remove(mac)
            default: break
            }
            if let step = record[.step] { stepByMAC[mac] = step }
        }
        // Silence counts again from the restart: the daemon heard nothing while it was down.
        let now = uptime()
        for mac in startedInstallByMAC.keys where !spoke.contains(mac) {
            if let id = installIDByMAC[mac], startedInstallByMAC[mac] == id, installerSpoke(mac, id) { spoke.insert(mac) }
        }
        for mac in spoke where startedInstallByMAC[mac] != nil && startedInstallByMAC[mac] == installIDByMAC[mac] {
            watch.restore(mac, stalled: stalled.contains(mac), at: now)
        }
    }

    public func daemon(_ kind: InstallEventKind, message: String, reason: String? = nil) {
        var fields: [InstallField: String] = [.site: site]
        if let reason { fields[.reason] = reason }
        writer.write(InstallEvent(kind, fields: fields, message: message))
    }

    public func proxyAnswered(_ s: ProxyRequestSummary, bootfile: String) {
        guard let mac = s.mac?.description else { return }
        var fields = machineFields(mac: mac)
        fields[.file] = bootfile
        fields[.chain] = ProxySettings.isSignedChainBootfile(bootfile) ? BootChain.secureBootShim.rawValue : BootChain.ipxe.rawValue
        if let arch = s.architecture { fields[.arch] = arch.description }
        if let uuid = s.uuid { fields[.uuid] = uuid }
        write(.dhcpOffer, fields)
    }

    public func tftp(_ r: TFTPTransferReport) {
        let ip = r.client.address.description
        let mac = r.mac?.description ?? knownMAC(ip: ip)
        var fields = mac.map { machineFields(mac: $0) } ?? [:]
        fields[.ip] = ip
        fields[.file] = r.file
        fields[.bytes] = String(r.bytes)
        fields[.durationMilliseconds] = String(r.duration.wholeMilliseconds)
        switch r.outcome {
        case .completed: write(.tftpSent, fields)
        case .abortedByClient: return // EDK2 asks for the size, then aborts on purpose.
        default:
            fields[.reason] = "\(r.outcome)"
            write(.tftpFailed, fields)
        }
    }

    /// Returns false for reports that are not journal events (refusals, the bootstrap), which
    /// keep their log lines. `neighbourMAC`: the kernel's neighbour table, which names the PC
    /// of a file sent before any of its requests said who it is (a UEFI HTTP boot PC
    /// fetching shim, GRUB and grub.cfg); not remembered, as for TFTP.
    public func http(_ event: BootHTTPEvent, neighbourMAC: (String) -> String? = { _ in nil }) -> Bool {
        switch event {
        case .menuShown(let machine, let entry, let remote, let proven):
            // Only the PC's own request may change what is known of it (DMI, address).
            if proven { remember(machine, ip: remote) }
            var fields = machineFields(mac: machine.mac.description)
            // The chain is the route this request took (/boot.ipxe or /boot.grub), not a claim
            // to keep: recorded on the event even when the request is not the PC's own.
            fields[.chain] = machine.chain.rawValue
            fields[.entry] = entry
            write(.menuShown, fields)
        case .entryChosen(let machine, let entry, let remote, let proven, let installs):
            if proven { remember(machine, ip: remote) }
            let mac = machine.mac.description
            if proven && installs {
                lock.lock()
                installIDByMAC[mac] = UUID().uuidString.lowercased()
                entryByMAC[mac] = entry
                // A new attempt: the last one's silence (a PC reset mid-install) is not its.
                startedFromSyslog.removeValue(forKey: mac)
                stepByMAC[mac] = nil
                watch.close(mac)
                lock.unlock()
            }
            var fields = machineFields(mac: mac)
            fields[.chain] = machine.chain.rawValue
            fields[.entry] = entry
            write(.menuChosen, fields)
        case .preseedSent(let machine, let entry, let remote):
            remember(machine, ip: remote, carriesPlatform: false)
            let mac = machine.mac.description
            sequence.withLock {
                let fresh = lock.withLock {
                    entryByMAC[mac] = entry
                    // The installer's syslog already started this attempt (main-menu's
                    // network-preseed item runs before the fetch): same start, no event.
                    if startedFromSyslog.removeValue(forKey: mac) != nil, startedInstallByMAC[mac] != nil,
                       startedInstallByMAC[mac] == installIDByMAC[mac] { return false }
                    if installIDByMAC[mac] == nil { installIDByMAC[mac] = UUID().uuidString.lowercased() }
                    startedInstallByMAC[mac] = installIDByMAC[mac]
                    return true
                }
                guard fresh else { return }
                var fields = machineFields(mac: mac)
                fields[.entry] = entry
                write(.installerStarted, fields)
            }
        case .fileSent(let path, let bytes, _, let remote):
            var fields = (knownMAC(ip: remote) ?? neighbourMAC(remote)).map { machineFields(mac: $0) } ?? [:]
            fields[.ip] = remote
            fields[.file] = path
            fields[.bytes] = String(bytes)
            if path.hasPrefix("/images/") { fields[.image] = path.split(separator: "/").dropFirst().first.map(String.init) }
            write(.imageSent, fields)
        case .progress(let mac, let stage, let remote):
            lock.lock()
            macByIP[remote] = mac
            lock.unlock()
            var fields = machineFields(mac: mac)
            fields[.stage] = stage
            let kind = Self.progressKind(stage)
            // The first boot of what the last install left: its install ID, when no new
            // install is open.
            if kind == .machineDelivered, fields[.installID] == nil {
                fields[.installID] = lock.withLock { endedInstallByMAC[mac] }
            }
            write(kind, fields)
        case .rearmed(let mac, let by, _):
            var fields = machineFields(mac: mac)
            fields[.reason] = by
            write(.machineRearmed, fields)
        case .refused(let path, let status, let reason, let remote) where path.hasPrefix("/images/"):
            // The PC's iPXE stops at its entry's failure branch; this is the journal's side
            // of it, tied to the machine by the IP its menu requests came from.
            var fields = knownMAC(ip: remote).map { machineFields(mac: $0) } ?? [:]
            fields[.site] = site
            fields[.ip] = remote
            fields[.file] = path
            fields[.image] = path.split(separator: "/").dropFirst().first.map(String.init)
            fields[.reason] = "HTTP \(status): \(reason)"
            write(.imageFailed, fields)
        case .inventoried(let mac, let report, let remote):
            lock.lock()
            macByIP[remote] = mac
            lock.unlock()
            // The report's DMI strings (read by dmidecode on the PC, behind a token) win over
            // what iPXE said in the menu request.
            var fields = machineFields(mac: mac).merging(ReportEvents.inventoryFields(report)) { _, new in new }
            fields[.ip] = remote
            write(.machineInventoried, fields)
        case .diskWipeReported(let mac, let report, let remote):
            let (kind, wipeFields) = ReportEvents.wipeEvent(report)
            var fields = machineFields(mac: mac).merging(wipeFields) { _, new in new }
            fields[.ip] = remote
            write(kind, fields)
        case .bootstrapSent, .refused, .probeNotFound, .menusUnavailable, .preseedRead, .identityNotStored:
            return false
        }
        return true
    }

    /// One line of an installer's syslog, sent from `ip`: always an installer.log event
    /// (debug) with the machine's fields, plus installer.step / installer.failed when the
    /// line is one of main-menu's milestones, installer.stalled / installer.failed when it
    /// is a known trouble (InstallerSyslog.trouble), installer.resumed when it is the first
    /// line after a stall. The first milestone or trouble of an attempt writes its
    /// installer.started first, unless the preseed fetch already did. The MAC is
    /// `attributedMAC(ip)` (the receiver's: the PC with an open install at that address),
    /// else the one this IP used in its HTTP requests, remembered for the next lines.
    /// A failure read from syslog marks the install failed but never ends it: only the PC's
    /// own report (with its token) does. Returns the MAC, nil when the sender is
    /// unknown (its lines still carry IP).
    @discardableResult
    public func installerSyslog(_ line: InstallerSyslogLine, from ip: String,
                                neighbourMAC attributedMAC: (String) -> String?) -> String? {
        var mac = knownMAC(ip: ip)
        if let found = attributedMAC(ip), found != mac {
            lock.lock()
            macByIP[ip] = found
            lock.unlock()
            mac = found
        }
        let milestone = InstallerSyslog.milestone(line)
        // main-menu's "Configuring … failed" is already the milestone's failure.
        let trouble = milestone == nil ? InstallerSyslog.trouble(line) : nil
        sequence.lock()
        defer { sequence.unlock() }
        if let mac, milestone != nil || trouble != nil { startInstall(mac: mac) }
        var fields = mac.map { machineFields(mac: $0) } ?? [:]
        fields[.site] = site
        fields[.ip] = ip
        writer.write(InstallEvent(.installerLog, fields: fields, message: line.text))
        let who = mac ?? ip
        // Only an attempt whose installer.started is written is watched for stalls.
        let change: InstallerStallWatch.Change? = mac.flatMap { mac in
            lock.withLock {
                guard let id = installIDByMAC[mac], startedInstallByMAC[mac] == id else { return nil }
                return watch.line(from: mac, at: uptime(), trouble: trouble)
            }
        }
        if change == .resumed, let mac {
            var resumed = fields
            resumed[.step] = lock.withLock { stepByMAC[mac] }
            write(.installerResumed, resumed, message: "installer.resumed \(who): lines from the installer again")
        }
        switch milestone {
        case .step(let step, let component)?:
            if let mac { lock.withLock { stepByMAC[mac] = step } }
            fields[.step] = step
            fields[.stage] = component
            write(.installerStep, fields, message: "installer.step \(who) \(step) (\(component))")
        case .failed(let step, let component, let reason)?:
            fields[.step] = step
            fields[.stage] = component
            fields[.reason] = reason
            // A syslog line is not proof (UDP takes any source address): it may mark the
            // install failed, never end it; only the PC's own report (with its token) does.
            write(.installerFailed, fields, endsInstall: false)
            // Failed is its state now: its silence is no stall.
            if let mac { lock.withLock { watch.close(mac) } }
        case nil:
            break
        }
        if let trouble {
            fields[.step] = mac.flatMap { mac in lock.withLock { stepByMAC[mac] } }
            fields[.stage] = line.appName
            fields[.reason] = trouble.reason
            fields[.cause] = trouble.cause.rawValue
            fields[.installerLine] = line.text
            switch trouble.outcome {
            case .failed:
                write(.installerFailed, fields, message: "installer.failed \(who): \(trouble.reason)", endsInstall: false)
                if let mac { lock.withLock { watch.close(mac) } }
            case .stalled where mac == nil || change != nil:
                write(.installerStalled, fields, message: "installer.stalled \(who): bloqué : \(trouble.reason)")
            case .stalled:
                break // already stalled: said once
            }
        }
        return mac
    }

    /// Writes installer.stalled for each watched installer silent for `installer.stall_seconds`
    /// (the daemon's timer calls it; tests call it after moving their clock).
    public func checkSilences() {
        sequence.lock()
        defer { sequence.unlock() }
        let (silent, limit) = lock.withLock { (watch.silences(at: uptime()), watch.silenceLimit) }
        let trouble = InstallerSyslog.silenceTrouble(seconds: limit)
        for mac in silent {
            var fields = machineFields(mac: mac)
            fields[.step] = lock.withLock { stepByMAC[mac] }
            fields[.reason] = trouble.reason
            fields[.cause] = trouble.cause.rawValue
            write(.installerStalled, fields, message: "installer.stalled \(mac): bloqué : \(trouble.reason)")
        }
    }

    /// Writes the attempt's installer.started unless it is written already (the caller
    /// holds `sequence`, so nothing of this machine is written in between).
    private func startInstall(mac: String) {
        let fresh = lock.withLock {
            if installIDByMAC[mac] == nil { installIDByMAC[mac] = UUID().uuidString.lowercased() }
            guard startedInstallByMAC[mac] != installIDByMAC[mac] else { return false }
            startedInstallByMAC[mac] = installIDByMAC[mac]
            startedFromSyslog[mac] = true
            return true
        }
        guard fresh else { return }
        var fields = machineFields(mac: mac)
        fields[.entry] = lock.withLock { entryByMAC[mac] }
        write(.installerStarted, fields, message: "installer.started \(mac) \(fields[.entry] ?? ""): first milestone in the installer's syslog")
    }

    /// `/progress?stage=…` names: what the preseed's late_command, the post-install script and
    /// the first-boot unit report. Anything else is an installer step.
    static func progressKind(_ stage: String) -> InstallEventKind {
        switch stage {
        case "finished": .installerFinished
        case "failed": .installerFailed
        case "postinstall-done": .postinstallDone
        case "postinstall-failed": .postinstallFailed
        case "first-boot", "delivered": .machineDelivered
        default: .installerStep
        }
    }

    /// An installer.failed from the installer's syslog (it names the failed step or carries
    /// the installer's line, which the PC's own `/progress?stage=failed` does not): it did
    /// not end the install.
    static func saidBySyslog(_ record: JournalRecord) -> Bool {
        record.kind == .installerFailed && (record[.step] != nil || record[.installerLine] != nil)
    }

    private func write(_ kind: InstallEventKind, _ fields: [InstallField: String], message: String? = nil,
                       endsInstall: Bool = true) {
        var fields = fields
        if kind == .installerStep, fields[.step] == nil { fields[.step] = fields[.stage] }
        guard endsInstall, kind.endsInstall, let mac = fields[.mac] else {
            writer.write(InstallEvent(kind, fields: fields, message: message))
            if let mac = fields[.mac] { onMachineEvent(kind, mac) }
            return
        }
        // The end and the forgetting together: a silence check cannot slip in between.
        sequence.withLock {
            writer.write(InstallEvent(kind, fields: fields, message: message))
            onMachineEvent(kind, mac)
            lock.withLock {
                if let id = installIDByMAC[mac] { endedInstallByMAC[mac] = id }
                installIDByMAC[mac] = nil
                startedInstallByMAC[mac] = nil
                startedFromSyslog.removeValue(forKey: mac)
                stepByMAC[mac] = nil
                watch.close(mac)
            }
        }
    }

    /// `carriesPlatform`: the preseed URL has only the MAC, so its identity's platform is
    /// the parser's default, not what the machine booted with; keep the one iPXE sent.
    private func remember(_ machine: MachineIdentity, ip: String, carriesPlatform: Bool = true) {
        let mac = machine.mac.description
        lock.lock()
        defer { lock.unlock() }
        macByIP[ip] = mac
        var known = identityByMAC[mac] ?? machine
        // iPXE sends the DMI strings with the menu request only; keep them for later ones.
        if carriesPlatform {
            known.platform = machine.platform
            known.chain = machine.chain
        }
        known.ip = ip
        for key in [\MachineIdentity.buildArchitecture, \.uuid, \.manufacturer, \.product, \.serial] {
            if let value = machine[keyPath: key] { known[keyPath: key] = value }
        }
        identityByMAC[mac] = known
    }

    private func knownMAC(ip: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        return macByIP[ip]
    }

    /// MAC, SITE, INSTALL_ID and whatever identity the machine gave before.
    private func machineFields(mac: String) -> [InstallField: String] {
        lock.lock()
        defer { lock.unlock() }
        var fields: [InstallField: String] = [.mac: mac, .site: site]
        fields[.installID] = installIDByMAC[mac]
        if let known = identityByMAC[mac] {
            fields[.ip] = known.ip
            fields[.platform] = known.platform.rawValue
            fields[.chain] = known.chain.rawValue
            fields[.arch] = known.buildArchitecture
            fields[.uuid] = known.uuid
            fields[.manufacturer] = known.manufacturer
            fields[.product] = known.product
            fields[.serial] = known.serial
        }
        return fields
    }
}
