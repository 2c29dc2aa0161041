// Wiring only: builds the services from the configuration, starts them, reports to
// systemd, reloads on SIGHUP keeping the last good configuration, stops on SIGTERM.

import BootHTTP
import BootMenus
import Certificates
import DHCP
import Dispatch
import Foundation
import InstallJournal
import Logging
import TFTP
import UDP

public final class GaragePXEDaemon: @unchecked Sendable {
    private let configPath: String
    private let overrides: ConfigOverrides
    private let logger: Logger
    // Touched only on `mainQueue`.
    private let mainQueue = DispatchQueue(label: "garage-pxe.main")
    private let tftpQueue = DispatchQueue(label: "garage-pxe.tftp")
    private var config: GaragePXEConfig
    private var serverAddress: IPv4Address
    private var proxy: ProxyDHCPService?
    private var tftp: TFTPServer?
    private var signalSources: [DispatchSourceSignal] = []
    private var timers: [DispatchSourceTimer] = []
    private var stopping = false
    private var interfaceName = ""
    private var bootContent: BootContentStore?
    /// Shim, GRUB and grub.cfg of the signed chain, served over TFTP.
    private var signedChain: SignedChainFiles?
    private var httpTask: Task<Void, Never>?
    private var httpPort = 0
    private var watcher: FolderWatcher?
    private var installerSyslog: InstallerSyslogReceiver?
    /// What the HTTP side refused or dropped, for STATUS and the stop log.
    private let httpStatistics = BootHTTPStatistics()
    /// nil: events stay log lines (run by hand); set: they go to the journal instead.
    private let journal: InstallEventRecorder?
    /// The bench page's view: rebuilt from the journal at start, then fed each event written.
    private let bench: BenchView

    /// Install once: what each machine's last install did, from the state file and the journal.
    private let installOnce: InstallOnceTracker
    /// Each installing PC's token (its reports' proof), in the state folder when events are recorded.
    private let reportSessions: ReportSessions
    /// What admin actions must present; unusable until read or made at start.
    private var adminToken = AdminToken.unusable()

    /// Said at start (an error) and on the bench page when install events go nowhere durable.
    public static let eventsOffWarning = "install events are NOT recorded: no journal is reachable (/run/systemd/journal/socket) or --events log was asked; install once cannot record new installs (an installed PC that network-boots again is offered the auto-install, which erases its disk) and the install record is off"

    public init(configPath: String, overrides: ConfigOverrides, config: GaragePXEConfig, logger: Logger,
                journal: JournalWriter? = nil) throws(ConfigRuntimeError) {
        let installOnce = InstallOnceTracker(logger: logger, store: InstallOnceStore(directory: config.stateDirectory),
                                             recording: journal != nil)
        self.installOnce = installOnce
        self.reportSessions = ReportSessions(directory: journal != nil ? config.stateDirectory : nil)
        self.journal = journal.map { InstallEventRecorder(writer: $0, site: config.site, stallSeconds: config.installer.stallSeconds) }
        let bench = BenchView()
        journal?.addObserver { event in bench.record(event) }
        // Every deciding event the daemon writes also goes in the install-once state file.
        journal?.addObserver { event in installOnce.noteWritten(event) }
        if journal == nil { bench.warnings = [Self.eventsOffWarning] }
        self.bench = bench
        self.configPath = configPath
        self.overrides = overrides
        self.config = config
        self.logger = logger
        self.serverAddress = .zero
    }

    /// Binds everything, then tells systemd we are ready. Throws (and sends no READY) if a
    /// socket cannot be bound, so a unit never looks up while it is deaf.
    public func start() throws {
        let (nic, address) = try config.resolveNetwork()
        serverAddress = address
        let policy = ProxyPolicy(settings: config.proxySettings(serverAddress: address))
        let listen = ProxyListenSettings(
            device: nic.name,
            dhcpPort: config.proxyDHCP.answerOnDHCPPort ? 67 : nil,
            pxePort: config.proxyDHCP.answerOnPXEPort ? 4011 : nil,
            receiveBufferBytes: Int32(config.limits.receiveBufferKiB * 1024))
        let logger = self.logger
        let journal = self.journal
        if journal == nil {
            logger.error("\(Self.eventsOffWarning)")
            logger.warning("admin actions (re-arming) are off: with no state folder in use there is no admin token")
        } else {
            prepareStateDirectory()
            loadProofs()
        }
        installOnce.load()
        if let problem = installOnce.startProblem { bench.warnings.append(problem) }
        if let journal {
            // An install interrupted by a restart keeps its INSTALL_ID.
            if let records = try? JournalReader.read(JournalQuery(since: Date().addingTimeInterval(-86_400))) {
                journal.restoreOpenInstalls(from: records)
                bench.rebuild(from: records)
            }
        }
        let service = ProxyDHCPService(policy: policy, listen: listen) { event in
            if let journal, case .answered(let summary, let bootfile, _, _) = event {
                journal.proxyAnswered(summary, bootfile: bootfile)
            } else {
                ProxyEventLog.log(event, to: logger)
            }
        }
        do {
            try service.start()
        } catch {
            throw ConfigRuntimeError("cannot listen for PXE clients on \(nic.name): \(error) (ports 67 and 4011 need root or CAP_NET_BIND_SERVICE; is another PXE server running?)")
        }
        proxy = service
        interfaceName = nic.name
        // Bound to the bench interface like the proxy; each transfer answers from the
        // address its request was sent to.
        let tftpServer = TFTPServer(
            settings: config.tftpServerSettings,
            listen: TFTPListenSettings(device: nic.name, port: config.tftp.port,
                                       receiveBufferBytes: Int32(config.limits.receiveBufferKiB * 1024)),
            queue: tftpQueue) { report in
            if let journal { journal.tftp(report) } else { TFTPEventLog.log(report, to: logger) }
        }
        do {
            try tftpServer.start()
        } catch {
            service.stop()
            throw ConfigRuntimeError("cannot serve TFTP on \(nic.name) port \(config.tftp.port): \(error) (is another TFTP server running?)")
        }
        tftp = tftpServer
        if let journal {
            startInstallerSyslog(journal, address: address)
            startStallCheck(journal)
        }
        let ports = [listen.dhcpPort, listen.pxePort].compactMap { $0 }.map { ":\($0)" }.joined(separator: " ")
        do {
            try startHTTP(address: address)
        } catch {
            service.stop()
            throw error
        }
        if let bootContent, let signedChain { signedChain.register(on: tftpServer, content: bootContent) }

        // Every socket is open: nothing privileged is needed any more.
        let privileges: Privileges.Outcome
        do {
            privileges = try Privileges.dropIfRoot(to: config.user)
        } catch {
            service.stop()
            tftpServer.stop()
            throw ConfigRuntimeError("cannot drop privileges to user '\(config.user)': \(error)")
        }
        var runningAs = "uid \(getuid())"
        switch privileges {
        case .dropped(let user, _, _): runningAs = user
        case .userMissing(let user):
            logger.warning("user '\(user)' does not exist, so the daemon keeps running as root; create it with systemd-sysusers (make install does)")
            runningAs = "root"
        case .notRoot: break
        }
        logger.notice("garage-pxe started", metadata: [
            "site": "\(config.site)", "interface": "\(nic.name)", "address": "\(address)",
            "proxy_ports": "\(ports)", "tftp_port": "\(config.tftp.port)", "tftp_root": "\(config.tftpRoot)",
            "http_port": "\(httpPort)", "syslog_port": "\(installerSyslog?.port ?? 0)", "config": "\(configPath)", "user": "\(runningAs)",
        ])
        journal?.daemon(.daemonStarted, message: "garage-pxe started on \(nic.name) \(address)")
        installSignalHandlers()
        startWatchingMenus()
        SystemdNotify.ready(status: statusLine())
        startWatchdogAndStatus()
    }

    /// The state folder exists and, started as root, belongs to the user the daemon becomes
    /// (under systemd, StateDirectory= does both).
    private func prepareStateDirectory() {
        let directory = config.stateDirectory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            logger.error("install once: cannot create the state folder \(directory): \(error)")
        }
        if geteuid() == 0, let user = getpwnam(config.user), chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) != 0 {
            logger.warning("install once: cannot give \(directory) to \(config.user): \(String(cString: strerror(errno)))")
        }
    }

    /// The install tokens of PCs installing across a restart, and the admin token (made at
    /// the first start, 0600, given to the daemon's user when started as root, so the
    /// same file serves a later start under systemd).
    private func loadProofs() {
        do throws(ReportSessionsError) {
            let count = try reportSessions.load()
            if count > 0 { logger.info("install tokens: \(count) in \(reportSessions.path ?? "-")") }
        } catch {
            logger.error("install tokens: \(error); PCs installing now have their reports refused until they boot the installer again")
        }
        let owner = geteuid() == 0 ? getpwnam(config.user).map { ($0.pointee.pw_uid, $0.pointee.pw_gid) } : nil
        do throws(AdminTokenError) {
            let (token, created) = try AdminToken.loadOrCreate(directory: config.stateDirectory, owner: owner)
            adminToken = token
            if created { logger.notice("admin token created in \(AdminToken.path(in: config.stateDirectory)) (mode 0600; garage-pxe rearm reads it as root)") }
        } catch {
            logger.error("admin token: \(error); admin actions (re-arming) are refused until it is fixed and the daemon restarted")
        }
    }

    /// The installer's syslog (log_host/log_port) on the bench address. A port already taken
    /// costs the installers' progress lines, not the boots: warn and serve on.
    private func startInstallerSyslog(_ journal: InstallEventRecorder, address: IPv4Address) {
        let logger = self.logger
        let sessions = reportSessions
        let receiver = InstallerSyslogReceiver(
            recorder: journal, address: address.hostOrder, port: UInt16(config.installer.syslogPort),
            receiveBufferBytes: Int32(config.limits.receiveBufferKiB * 1024),
            openInstall: { ip in sessions.openSession(at: ip, purpose: .install) },
            onDropped: { refusal, ip in logger.debug("installer-syslog.dropped", metadata: ["from": "\(ip)", "reason": "\(refusal)"]) })
        do {
            try receiver.start()
            installerSyslog = receiver
        } catch {
            logger.error("cannot receive the installers' syslog on \(address):\(config.installer.syslogPort): \(error); installs still boot, without their step events")
        }
    }

    /// Silent installers become installer.stalled: checked every second, so a stall shows
    /// within a second of `installer.stall_seconds` (a check is one pass over the open
    /// installs, nothing when none is silent).
    private func startStallCheck(_ journal: InstallEventRecorder) {
        let timer = DispatchSource.makeTimerSource(queue: mainQueue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { journal.checkSilences() }
        timer.resume()
        timers.append(timer)
    }

    /// A reload's syslog address or port: the receiver moves there (the old socket closed
    /// once the new one is bound). false: the new port could not be bound, the receiver
    /// stays where it was, and so must the port handed to installers.
    private func moveInstallerSyslog(address: IPv4Address, port: Int) -> Bool {
        guard let receiver = installerSyslog,
              receiver.address != address.hostOrder || Int(receiver.port) != port else { return true }
        do {
            try receiver.rebind(address: address.hostOrder, port: UInt16(port))
            logger.notice("installer syslog moved", metadata: ["address": "\(address)", "syslog_port": "\(port)"])
            return true
        } catch {
            logger.error("configuration reload: cannot receive the installers' syslog on \(address):\(port): \(error); still on port \(receiver.port), which installers keep being given")
            return false
        }
    }

    /// Loads the menus and images, then binds the HTTP port and waits (bounded) until it
    /// listens, so READY is never sent for a server that cannot answer. Menus with errors
    /// at start do not stop the daemon: PCs get a script that says so and retries, the
    /// errors are logged, and the first clean reload (a save, SIGHUP) takes over.
    /// The MAC the kernel's neighbour table has for a dotted IPv4 address: learnt from the
    /// PC's own ARP traffic, so a host elsewhere cannot claim another PC's MAC and be believed.
    static func neighbourMAC(_ ip: String) -> String? {
        parseIPv4(ip).flatMap(NeighbourTable.hardwareAddress(of:)).flatMap { MACAddress(bytes: $0) }?.description
    }

    private func startHTTP(address: IPv4Address) throws {
        var snapshot = BootSnapshot(menus: nil, server: BootContentLoader.serverSettings(config, address: address))
        do {
            let (loaded, imageProblems) = try BootContentLoader.snapshot(config, address: address)
            for problem in imageProblems { logger.warning("image skipped: \(problem)") }
            snapshot = loaded
        } catch {
            logger.errorLines("the menus have errors; PCs are told so until they are fixed:", error)
        }
        let store = BootContentStore(snapshot)
        let logger = self.logger
        let journal = self.journal
        // Debian's signed chain, served over TFTP (PXE) and over HTTP (UEFI HTTP boot).
        let chainFiles = SignedChainFiles(config: config)
        signedChain = chainFiles
        var httpConfiguration = BootHTTPConfiguration(
            host: config.httpListenAddress, port: Int(config.httpPort), imagesDirectory: config.imagesDirectory,
            tftpRoot: config.tftpRoot, tftpTrustedLinkTargets: config.tftp.trustedLinkTargets,
            zeroCopyFiles: config.httpSendfile)
        httpConfiguration.signedChainFile = { path in chainFiles.contents(of: path, content: store) }
        // An entry that runs the Debian installer opens a new install attempt.
        let installs: @Sendable (String) -> Bool = { id in
            store.snapshot.menus?.menu.entries.first { $0.id == id }?.kind == .debianInstaller
        }
        let started = StartupOutcome()
        let app = BootHTTPServer.application(
            // /tftp/ follows the TFTP server's jail, trusted link targets included: Debian's
            // /usr/lib/ipxe/ipxe.efi is a link to /boot/ipxe.efi.
            configuration: httpConfiguration,
            content: store, logger: logger, statistics: httpStatistics,
            onEvent: { event in
                if journal?.http(event, installs: installs, neighbourMAC: Self.neighbourMAC) != true { BootHTTPEventLog.log(event, to: logger) }
            },
            onRunning: { port in started.finish(.success(port)) },
            bench: bench,
            installOnce: { [installOnce] mac in await installOnce.status(mac: mac.description) },
            proof: BootHTTPProof(sessions: reportSessions, adminToken: adminToken, macOfAddress: { ip in
                Self.neighbourMAC(ip).flatMap(HardwareAddress.init)
            }),
            reports: ReportSettings(sessions: reportSessions),
            records: journal == nil ? nil : machineRecordsAccess())
        httpTask = Task {
            do {
                try await app.run()
            } catch {
                started.finish(.failure(error))
                logger.critical("HTTP server stopped: \(error)")
            }
        }
        switch started.wait(seconds: 30) {
        case .success(let port)?:
            httpPort = port
            bootContent = store
        case .failure(let error)?:
            throw ConfigRuntimeError("cannot serve HTTP on \(config.httpListenAddress):\(config.httpPort): \(error) (port 80 needs root or CAP_NET_BIND_SERVICE; is another web server using it?)")
        case nil:
            httpTask?.cancel()
            throw ConfigRuntimeError("the HTTP server did not start within 30 s")
        }
    }


    /// The per-PC record's source for the bench (machine pages, CSV, certificates): the whole
    /// journal (without the installers' raw lines), read on a queue of its own, never on an
    /// event loop. The site key is made now, under the state folder, if it is not there yet.
    private func machineRecordsAccess() -> MachineRecordsAccess {
        var key: SiteSigningKey?
        do {
            key = try SiteSigningKey.loadOrCreate(stateDirectory: config.stateDirectory)
            // Made as root before the privilege drop: it must stay readable by the daemon's user.
            if geteuid() == 0, let user = getpwnam(config.user) {
                _ = chown(config.stateDirectory + "/" + SiteSigningKey.fileName, user.pointee.pw_uid, user.pointee.pw_gid)
            }
            logger.notice("certificate signing key ready", metadata: ["public_key": "\(key!.publicKeyBase64)", "fingerprint": "\(key!.fingerprint)"])
        } catch {
            logger.error("erasure certificates cannot be signed: \(error)")
        }
        let queue = DispatchQueue(label: "garage-pxe.machine-records")
        let site = config.site
        return MachineRecordsAccess(
            events: {
                try await withCheckedThrowingContinuation { continuation in
                    queue.async {
                        do throws(JournalReadError) {
                            let kinds = InstallEventKind.allCases.filter { $0.concernsMachine && $0 != .installerLog }
                            continuation.resume(returning: try JournalReader.read(JournalQuery(kinds: kinds)))
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                }
            },
            signingKey: key, site: { site })
    }

    /// Menu files saved, or an image imported: reload the boot content.
    private func startWatchingMenus() {
        let menus = config.menusDirectory
        let folders = [menus, menus + "/templates", menus + "/postinstall", config.imagesDirectory]
        watcher = FolderWatcher(folders: folders, queue: mainQueue) { [weak self] in
            self?.reloadBootContent(reason: "files changed")
        }
        watcher?.start()
    }

    /// Re-reads menus, templates and images; on any error the served version stays and
    /// the errors are logged, each with its file:line:column.
    private func reloadBootContent(reason: String) {
        guard let bootContent else { return }
        do {
            let (snapshot, imageProblems) = try BootContentLoader.snapshot(config, address: serverAddress)
            for problem in imageProblems { logger.warning("image skipped: \(problem)") }
            bootContent.replace(with: snapshot)
            journal?.daemon(.configReloaded, message: "garage-pxe menus reloaded (\(reason))")
            logger.notice("menus reloaded", metadata: [
                "reason": "\(reason)", "entries": "\(snapshot.menus?.menu.entries.count ?? 0)", "images": "\(snapshot.menus?.images.count ?? 0)",
            ])
        } catch {
            journal?.daemon(.configRefused, message: "garage-pxe refused the new menus (\(reason))", reason: "\(error)")
            logger.errorLines("menus reload refused, still serving the previous menus (\(reason)):", error)
        }
    }

    /// One line for `systemctl status`: what is served and what has happened so far.
    private func statusLine() -> String {
        let s = proxy?.statistics ?? ProxyStatistics()
        let t = tftp?.statistics ?? TFTPServerStatistics()
        let h = httpStatistics.counts
        return "proxyDHCP on \(interfaceName) \(serverAddress): \(s.answered) answered, \(s.ignoredTotal) ignored, \(s.malformedTotal) malformed; TFTP :\(config.tftp.port) \(tftp?.activeTransfers ?? 0) transfers running, \(t.refusedTotal) refused, \(t.malformed + t.stray) dropped; HTTP \(h.refusedTotal) refused, \(h.malformedConnections + h.closedBeforeRequest) connections dropped\(installerSyslogStatus)"
    }

    private var installerSyslogStatus: String {
        guard let s = installerSyslog?.statistics else { return "" }
        return "; installer syslog \(s.lines) lines, \(s.dropped) dropped, \(s.unknownSender) from senders with no open install, \(s.rateLimited) over the rate limit"
    }

    /// WATCHDOG=1 from the main queue at half the interval systemd asked for: if that
    /// queue ever wedges, the pings stop and systemd restarts us. STATUS every 10 s.
    private func startWatchdogAndStatus() {
        if let usec = SystemdNotify.watchdogIntervalMicroseconds() {
            let timer = DispatchSource.makeTimerSource(queue: mainQueue)
            timer.schedule(deadline: .now(), repeating: .microseconds(max(usec / 2, 10_000)))
            timer.setEventHandler { SystemdNotify.send("WATCHDOG=1") }
            timer.resume()
            timers.append(timer)
        }
        let status = DispatchSource.makeTimerSource(queue: mainQueue)
        status.schedule(deadline: .now() + 10, repeating: 10)
        status.setEventHandler { [weak self] in
            guard let self else { return }
            SystemdNotify.status(self.statusLine())
        }
        status.resume()
        timers.append(status)
    }

    /// Runs until SIGTERM/SIGINT.
    public func run() throws -> Never {
        try start()
        dispatchMain()
    }

    private func installSignalHandlers() {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: mainQueue)
            source.setEventHandler { [weak self] in
                guard let self else { return }
                if sig == SIGHUP { self.reload() } else { self.shutdown(signal: sig) }
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Re-reads the configuration. A file with errors is refused and the running
    /// configuration stays. Every changed key is either applied or named in the log as
    /// needing a restart (GaragePXEConfig.reloadKeys), its running value kept: URLs handed
    /// to clients must name the ports actually listened on.
    private func reload() {
        SystemdNotify.reloading()
        defer { SystemdNotify.ready(status: statusLine()) }
        do {
            let loaded = try GaragePXEConfig.load(path: configPath, overrides: overrides)
            var plan = GaragePXEConfig.reloadPlan(running: config, loaded: loaded)
            if !plan.needRestart.isEmpty {
                logger.warning("configuration reload: \(plan.needRestart.joined(separator: ", ")) change only on restart; the running values stay until then")
            }
            let address = plan.config.address ?? serverAddress
            if !moveInstallerSyslog(address: address, port: plan.config.installer.syslogPort) {
                // log_port in the kernel command lines must be where the receiver listens.
                plan.config.installer.syslogPort = config.installer.syslogPort
                plan.applied.removeAll { $0 == "installer.syslog_port" }
            }
            proxy?.replacePolicy(ProxyPolicy(settings: plan.config.proxySettings(serverAddress: address)))
            tftp?.update(plan.config.tftpServerSettings)
            signedChain?.update(plan.config)
            journal?.changeSite(to: plan.config.site)
            journal?.changeStallSeconds(to: plan.config.installer.stallSeconds)
            config = plan.config
            serverAddress = address
            journal?.daemon(.configReloaded, message: "garage-pxe configuration reloaded")
            logger.notice("configuration reloaded", metadata: [
                "config": "\(configPath)", "changed": "\(plan.applied.isEmpty ? "-" : plan.applied.joined(separator: ","))",
            ])
        } catch {
            journal?.daemon(.configRefused, message: "garage-pxe refused the new configuration", reason: "\(error)")
            logger.errorLines("configuration reload refused, keeping the running configuration:", error)
        }
        // The menus have their own last-good copy: reload them whatever the config did.
        reloadBootContent(reason: "SIGHUP")
    }

    /// Graceful stop: stop answering new clients at once, give running TFTP transfers up
    /// to `limits.stop_grace_seconds` to finish (a PC halfway through its loader would
    /// otherwise have to start over), then close everything and exit.
    private func shutdown(signal sig: Int32) {
        guard !stopping else { return }
        stopping = true
        SystemdNotify.stopping()
        let stats = proxy?.statistics
        proxy?.stop()
        tftp?.stopAccepting()
        let running = tftp?.activeTransfers ?? 0
        journal?.daemon(.daemonStopping, message: "garage-pxe stopping (signal \(sig))")
        logger.notice("garage-pxe stopping", metadata: [
            "signal": "\(sig)", "answered": "\(stats?.answered ?? 0)",
            "ignored": "\(stats?.ignoredTotal ?? 0)", "malformed": "\(stats?.malformedTotal ?? 0)",
            "tftp_transfers_running": "\(running)",
            "installer_syslog_lines": "\(installerSyslog?.statistics.lines ?? 0)",
            "installer_syslog_dropped": "\(installerSyslog?.statistics.dropped ?? 0)",
            "installer_syslog_unknown_senders": "\(installerSyslog?.statistics.unknownSender ?? 0)",
            "installer_syslog_rate_limited": "\(installerSyslog?.statistics.rateLimited ?? 0)",
        ].merging(RobustnessCounters.metadata(tftp: tftp?.statistics, http: httpStatistics.counts)) { a, _ in a })
        let deadline = DispatchTime.now() + .seconds(config.limits.stopGraceSeconds)
        let waiter = DispatchSource.makeTimerSource(queue: mainQueue)
        waiter.schedule(deadline: .now(), repeating: .milliseconds(100))
        waiter.setEventHandler { [weak self] in
            guard let self else { return }
            let left = self.tftp?.activeTransfers ?? 0
            guard left == 0 || DispatchTime.now() >= deadline else { return }
            waiter.cancel()
            self.tftp?.stop()
            self.installerSyslog?.stop()
            self.httpTask?.cancel()
            self.journal?.flush()
            self.installOnce.flush()
            self.logger.notice("garage-pxe stopped", metadata: [
                "tftp_transfers_finished": "\(running - left)", "tftp_transfers_abandoned": "\(left)",
            ])
            exit(0)
        }
        waiter.resume()
        timers.append(waiter)
    }
}

extension Logger {
    /// `heading`, then each line of `error` (file:line:column diagnostics with their source
    /// lines) as an error of its own: the log handler escapes newlines so that one event is
    /// one line, and a multi-line message would read as a single line full of `\x0a`.
    func errorLines(_ heading: String, _ error: any Error) {
        self.error("\(heading)")
        for line in "\(error)".split(separator: "\n") { self.error("\(line)") }
    }
}

/// Turns proxy events into log lines with stable keys, one line per decision.
public enum ProxyEventLog {
    public static func metadata(_ s: ProxyRequestSummary, interface: String?) -> Logger.Metadata {
        var m: Logger.Metadata = [
            "mac": "\(s.mac?.description ?? "-")", "port": "\(s.port)",
            "type": "\(s.messageType?.description ?? "-")",
            "arch": "\(s.architecture?.description ?? "-")",
            "vendor_class": "\(s.vendorClass ?? "-")",
        ]
        if let uuid = s.uuid { m["uuid"] = "\(uuid)" }
        if !s.userClasses.isEmpty { m["user_class"] = "\(s.userClasses.joined(separator: ","))" }
        if let interface { m["interface"] = "\(interface)" }
        return m
    }

    public static func log(_ event: ProxyEvent, to logger: Logger) {
        switch event {
        case .answered(let s, let bootfile, let replyTo, let nic):
            var m = metadata(s, interface: nic)
            m["bootfile"] = "\(bootfile)"
            m["reply_to"] = "\(replyTo)"
            logger.info("dhcp.offer", metadata: m)
        case .ignored(let reason, let s, let nic):
            var m = metadata(s, interface: nic)
            m["reason"] = "\(reason)"
            // Non-PXE traffic is the LAN's normal DHCP: debug, not noise. Unknown
            // architectures are worth an admin's eye.
            switch reason {
            case .unknownArchitecture, .architectureNotConfigured:
                logger.warning("dhcp.ignored", metadata: m)
            default:
                logger.debug("dhcp.ignored", metadata: m)
            }
        case .malformed(let error, let from, let nic):
            logger.notice("dhcp.malformed", metadata: ["from": "\(from)", "error": "\(error)", "interface": "\(nic ?? "-")"])
        case .sendFailed(let error, let s):
            var m = metadata(s, interface: nil)
            m["error"] = "\(error)"
            logger.error("dhcp.send-failed", metadata: m)
        }
    }
}

/// The HTTP server's start, reported from its task to the thread waiting in `start()`.
private final class StartupOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Int, Error>?

    func finish(_ outcome: Result<Int, Error>) {
        lock.lock()
        defer { lock.unlock() }
        guard result == nil else { return }
        result = outcome
        done.signal()
    }

    func wait(seconds: Int) -> Result<Int, Error>? {
        _ = done.wait(timeout: .now() + .seconds(seconds))
        lock.lock()
        defer { lock.unlock() }
        return result
    }
}

/// Turns HTTP events into log lines with stable keys (the journal issue maps them to
/// journal events: menu.shown, menu.chosen, image.sent, installer.started, progress).
public enum BootHTTPEventLog {
    public static func log(_ event: BootHTTPEvent, to logger: Logger) {
        switch event {
        case .bootstrapSent(let remote):
            logger.info("http.bootstrap", metadata: ["remote": "\(remote)"])
        case .menuShown(let machine, let entry, let remote, _):
            logger.info("menu.shown", metadata: ["mac": "\(machine.mac)", "platform": "\(machine.platform.rawValue)", "default_entry": "\(entry ?? "-")", "remote": "\(remote)"])
        case .entryChosen(let machine, let entry, let remote, _):
            logger.info("menu.chosen", metadata: ["mac": "\(machine.mac)", "entry": "\(entry)", "remote": "\(remote)"])
        case .fileSent(let path, let bytes, let range, let remote):
            var m: Logger.Metadata = ["path": "\(path)", "bytes": "\(bytes)", "remote": "\(remote)"]
            if let range { m["range"] = "\(range)" }
            logger.info("image.sent", metadata: m)
        case .preseedSent(let machine, let entry, let remote):
            logger.info("installer.started", metadata: ["mac": "\(machine.mac)", "entry": "\(entry)", "remote": "\(remote)"])
        case .progress(let mac, let stage, let remote):
            logger.notice("installer.progress", metadata: ["mac": "\(mac)", "stage": "\(stage)", "remote": "\(remote)"])
        case .preseedRead(let machine, let entry, let remote):
            logger.info("preseed.read", metadata: ["mac": "\(machine.mac)", "entry": "\(entry)", "remote": "\(remote)", "note": "no install token: nothing recorded"])
        case .identityNotStored(let mac, let remote):
            logger.notice("identity.not-stored", metadata: ["mac": "\(mac)", "remote": "\(remote)", "reason": "DMI fields from an address that is not this MAC's (neighbour table)"])
        case .rearmed(let mac, let by, let remote):
            logger.notice("machine.rearmed", metadata: ["mac": "\(mac)", "by": "\(by)", "remote": "\(remote)"])
        case .refused(let path, let status, let reason, let remote):
            logger.notice("http.refused", metadata: ["path": "\(path)", "status": "\(status)", "reason": "\(reason)", "remote": "\(remote)"])
        case .inventoried(let mac, let report, let remote):
            logger.notice("machine.inventoried", metadata: ["mac": "\(mac)", "serial": "\(report.machine.serial)", "disks": "\(report.disks.count)", "remote": "\(remote)"])
        case .diskWipeReported(let mac, let report, let remote):
            let message: Logger.Message = report.erased ? "disk.wiped" : "disk.wipe.failed"
            logger.log(level: report.erased ? .notice : .error, message,
                       metadata: ["mac": "\(mac)", "disk_serial": "\(report.serial)", "method": "\(report.method.rawValue)",
                                  "verification": "\(report.verification.rawValue)", "reason": "\(report.reason)", "remote": "\(remote)"])
        }
    }
}
