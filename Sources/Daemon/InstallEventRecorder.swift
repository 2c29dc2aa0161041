// Turns what the services report (proxy answers, TFTP transfers, HTTP requests) into
// install-journal events with the machine's fields. It also remembers, per machine, what
// later reports lack: the IP a MAC was last seen at (image downloads carry only the
// client's address), the DMI identity iPXE sent, and the current install attempt's id.

import BootHTTP
import BootMenus
import DHCP
import Foundation
import InstallJournal
import MachineRecords
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
    private var macByIP: [String: String] = [:]
    private var identityByMAC: [String: MachineIdentity] = [:]
    private var installIDByMAC: [String: String] = [:]
    /// Told of every machine event written (install once keeps its own recent writes).
    private let onMachineEvent: @Sendable (InstallEventKind, _ mac: String) -> Void

    public init(writer: JournalWriter, site: String, onMachineEvent: @escaping @Sendable (InstallEventKind, String) -> Void = { _, _ in }) {
        self.writer = writer
        self.currentSite = site
        self.onMachineEvent = onMachineEvent
    }

    /// Events written from now on carry `site` (a reload changed it).
    public func changeSite(to site: String) { siteLock.withLock { currentSite = site } }

    public var fallbackEvents: Int { writer.fallbackEvents }
    /// Events waiting for journald to come back (journald restarting).
    public var bufferedEvents: Int { writer.bufferedEvents }
    public func flush() { writer.flush() }

    /// Install attempts still open in the journal (started, neither finished nor failed),
    /// so a restart mid-install keeps the same INSTALL_ID.
    public func restoreOpenInstalls(from records: [JournalRecord]) {
        lock.lock()
        defer { lock.unlock() }
        for record in records {
            guard let mac = record[.mac], let kind = record.kind else { continue }
            if kind.endsInstall && !Self.saidBySyslog(record) { installIDByMAC[mac] = nil } else if let id = record[.installID] { installIDByMAC[mac] = id }
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
        let ip = formatIPv4(r.client.address)
        let mac = r.mac.flatMap { MACAddress(bytes: $0)?.description } ?? knownMAC(ip: ip)
        var fields = mac.map { machineFields(mac: $0) } ?? [:]
        fields[.ip] = ip
        fields[.file] = r.file
        fields[.bytes] = String(r.bytes)
        fields[.durationMilliseconds] = String(Int(r.duration.components.seconds * 1000 + r.duration.components.attoseconds / 1_000_000_000_000_000))
        switch r.outcome {
        case .completed: write(.tftpSent, fields)
        case .abortedByClient: return // EDK2 asks for the size, then aborts on purpose.
        default:
            fields[.reason] = "\(r.outcome)"
            write(.tftpFailed, fields)
        }
    }

    /// Returns false for reports that are not journal events (refusals, the bootstrap), which
    /// keep their log lines.
    public func http(_ event: BootHTTPEvent, installs: (String) -> Bool) -> Bool {
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
        case .entryChosen(let machine, let entry, let remote, let proven):
            if proven { remember(machine, ip: remote) }
            let mac = machine.mac.description
            if proven && installs(entry) {
                lock.lock()
                installIDByMAC[mac] = UUID().uuidString.lowercased()
                lock.unlock()
            }
            var fields = machineFields(mac: mac)
            fields[.chain] = machine.chain.rawValue
            fields[.entry] = entry
            write(.menuChosen, fields)
        case .preseedSent(let machine, let entry, let remote):
            remember(machine, ip: remote, carriesPlatform: false)
            let mac = machine.mac.description
            lock.lock()
            if installIDByMAC[mac] == nil { installIDByMAC[mac] = UUID().uuidString.lowercased() }
            lock.unlock()
            var fields = machineFields(mac: mac)
            fields[.entry] = entry
            write(.installerStarted, fields)
        case .fileSent(let path, let bytes, _, let remote):
            var fields = knownMAC(ip: remote).map { machineFields(mac: $0) } ?? [:]
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
            write(Self.progressKind(stage), fields)
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
        case .bootstrapSent, .refused, .preseedRead, .identityNotStored:
            return false
        }
        return true
    }

    /// One line of an installer's syslog, sent from `ip`: always an installer.log event
    /// (debug) with the machine's fields, plus installer.step / installer.failed when the
    /// line is one of main-menu's milestones. The MAC is `attributedMAC(ip)` (the receiver's:
    /// the PC with an open install at that address), else the one this IP used in its HTTP
    /// requests, remembered for the next lines. Returns the MAC, nil when the sender is
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
        var fields = mac.map { machineFields(mac: $0) } ?? [:]
        fields[.site] = site
        fields[.ip] = ip
        writer.write(InstallEvent(.installerLog, fields: fields, message: line.text))
        switch InstallerSyslog.milestone(line) {
        case .step(let step, let component)?:
            fields[.step] = step
            fields[.stage] = component
            writer.write(InstallEvent(.installerStep, fields: fields, message: "installer.step \(mac ?? ip) \(step) (\(component))"))
        case .failed(let step, let component, let reason)?:
            fields[.step] = step
            fields[.stage] = component
            fields[.reason] = reason
            // A syslog line is not proof (UDP takes any source address): it may mark the
            // install failed, never end it; only the PC's own report (with its token) does.
            write(.installerFailed, fields, endsInstall: false)
        case nil:
            break
        }
        return mac
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

    /// An installer.failed from the installer's syslog (it names the failed step, which
    /// the PC's own `/progress?stage=failed` does not): it did not end the install.
    static func saidBySyslog(_ record: JournalRecord) -> Bool {
        record.kind == .installerFailed && record[.step] != nil
    }

    private func write(_ kind: InstallEventKind, _ fields: [InstallField: String], endsInstall: Bool = true) {
        var fields = fields
        if kind == .installerStep, fields[.step] == nil { fields[.step] = fields[.stage] }
        writer.write(InstallEvent(kind, fields: fields))
        if let mac = fields[.mac] { onMachineEvent(kind, mac) }
        if endsInstall, kind.endsInstall, let mac = fields[.mac] {
            lock.lock()
            installIDByMAC[mac] = nil
            lock.unlock()
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
