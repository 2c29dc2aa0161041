// Wiring only: builds the services from the configuration, runs them in one ServiceGroup,
// reports to systemd, reloads on SIGHUP keeping the last good configuration, stops
// gracefully on SIGTERM. How the work is spread over threads and tasks: docs/concurrency.md.

import BootHTTP
import BootMenus
import Certificates
import DHCP
import Foundation
import InstallJournal
import Logging
import NetworkAddresses
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle
import TFTP
import UDP
import UnixSignals

public final class GaragePXEDaemon: @unchecked Sendable {
    private let configPath: String
    private let overrides: ConfigOverrides
    private let logger: Logger
    // Set by `prepare` before the service group starts; from then on touched only by the
    // supervisor task (reload, status, the start of a stop), which owns them.
    private var config: GaragePXEConfig
    private var serverAddress: IPv4Address
    private var proxy: ProxyDHCPService?
    private var tftp: TFTPServer?
    private var interfaceName = ""
    private var proxyPorts = ""
    private var bootContent: BootContentStore?
    /// Shim, GRUB and grub.cfg of the signed chain, served over TFTP.
    private var signedChain: SignedChainFiles?
    private var httpPort = 0
    private var watcher: FolderWatcher?
    private var installerSyslog: InstallerSyslogReceiver?
    /// TFTP transfers running when the stop began, and those still running when it ended.
    private var transfersAtStop = 0
    private let transfersAbandoned = NIOLockedValueBox(0)
    /// The task running the service group: cancelled when the grace period is over.
    private let groupTask = NIOLockedValueBox<Task<Void, any Error>?>(nil)
    /// Times the supervisor's ticks and the stop's deadlines (tests drive their own).
    private let clock: any Clock<Duration>
    /// The stop's deadlines once a stop began: cancelled when every service has ended.
    private let stopDeadlines = NIOLockedValueBox<Task<Void, Never>?>(nil)
    /// What the HTTP side refused or dropped, for STATUS and the stop log.
    private let httpStatistics = BootHTTPStatistics()
    /// nil: events stay log lines (run by hand); set: they go to the journal instead.
    private let journal: InstallEventRecorder?
    /// Where every service's events go, chosen once here: the journal or log lines.
    private let events: any EventSink
    /// The bench page's view: rebuilt from the journal at start, then fed each event written.
    private let bench: BenchView

    /// Install once: what each machine's last install did, from the state file and the journal.
    private let installOnce: InstallOnceTracker
    /// Each installing PC's token (its reports' proof), in the state folder when events are recorded.
    private let reportSessions: ReportSessions
    /// What admin actions must present; unusable until read or made at start.
    private var adminToken = AdminToken.unusable()
    /// Where the privilege drop stands (Privileges): set before the services start.
    private var privileges = Privileges.Outcome.notRoot
    /// Opened once the privilege drop is complete: no service reads a request before.
    private let servingGate = ServingGate()

    /// Said at start (an error) and on the bench page when install events go nowhere durable.
    public static let eventsOffWarning = "install events are NOT recorded: no journal is reachable (/run/systemd/journal/socket) or --events log was asked; install once cannot record new installs (an installed PC that network-boots again is offered the auto-install, which erases its disk) and the install record is off"

    /// After the grace period, cancelled services get this long to close before the
    /// process exits anyway.
    static let cancelGraceSeconds = 5

    public init(configPath: String, overrides: ConfigOverrides, config: GaragePXEConfig, logger: Logger,
                journal: JournalWriter? = nil, clock: any Clock<Duration> = ContinuousClock()) throws(ConfigRuntimeError) {
        self.clock = clock
        let installOnce = InstallOnceTracker(logger: logger, store: InstallOnceStore(directory: config.stateDirectory),
                                             recording: journal != nil,
                                             readAll: InstallOnceTracker.journalReadAll(within: config.limits.startupRead))
        self.installOnce = installOnce
        self.reportSessions = ReportSessions(directory: journal != nil ? config.stateDirectory : nil)
        let recorder = journal.map { InstallEventRecorder(writer: $0, site: config.site, stallSeconds: config.installer.stallSeconds) }
        self.journal = recorder
        self.events = recorder.map { JournalEvents(recorder: $0, logger: logger) } ?? LogLineEvents(logger: logger)
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

    /// What reaches the supervisor, one at a time, so the daemon's state has one owner.
    private enum Request: Sendable {
        case reload
        case filesChanged
        case status
        case watchdog
        case stallCheck
    }

    /// Runs every service until SIGTERM/SIGINT, then stops gracefully and returns (exit 0).
    /// Throws when a service cannot start, after every service already started is stopped;
    /// READY is then never sent, so a unit never looks up while it is deaf.
    public func run() async throws {
        let (startups, started) = AsyncStream.makeStream(of: String.self)
        let (requests, request) = AsyncStream.makeStream(of: Request.self)
        var services: [any Service] = []
        services.append(proxyService(started))
        services.append(tftpService(started))
        if let journal { services.append(installerSyslogService(journal, started: started)) }
        services.append(try httpService(started))
        if let watcher = makeWatcher(request) {
            services.append(SocketService(description: "folder watcher", open: { watcher.start() }, close: { watcher.stop() },
                                          started: started, gate: servingGate))
        }
        let expected = services.count
        // Last: shut down first, so new clients are refused before anything waits.
        services.append(DaemonTask(description: "supervisor") { [self] in
            try await supervise(startups: startups, expected: expected, requests: requests, request: request)
        })
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            // The first signal stops gracefully; a second one during the stop cuts the rest
            // (beginStop: the group refuses one signal in both lists).
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // The grace period is ours (limits.stop_grace_seconds, reload-applied): see beginStop.
        configuration.maximumGracefulShutdownDuration = nil
        configuration.maximumCancellationDuration = nil
        let group = ServiceGroup(configuration: configuration)
        let task = Task { try await group.run() }
        groupTask.withLockedValue { $0 = task }
        do {
            try await task.value
        } catch {
            if !stopBegan.withLockedValue({ $0 }) {
                logger.error("garage-pxe could not start; every service already started was stopped")
                throw error
            }
        }
        stopDeadlines.withLockedValue { $0 }?.cancel()
        finishStop()
    }

    /// `run()` from a synchronous main, which waits here. The process's first thread must
    /// stay a live thread: glibc's setuid reaches every live thread, and an async main (or
    /// dispatchMain) ends it with pthread_exit, which would leave it root, capabilities and
    /// all, while the rest of the daemon runs as `user`.
    ///
    /// Everything that needs root (the state folder given to `user`, the tokens) happens
    /// here first; then, started as root, this thread takes `user`'s ids keeping only
    /// CAP_NET_BIND_SERVICE (Privileges), before any service thread exists: the threads it
    /// starts inherit that, so nothing is bound or answered with root's rights.
    public func runUntilStopped() throws {
        try prepare()
        do {
            privileges = try Privileges.beginDrop(to: config.user)
        } catch {
            throw ConfigRuntimeError("cannot drop privileges to user '\(config.user)': \(error)")
        }
        let outcome = NIOLockedValueBox<Result<Void, any Error>>(.success(()))
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await run()
            } catch {
                outcome.withLockedValue { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        try outcome.withLockedValue { $0 }.get()
    }

    /// Everything that needs no socket: the network, the state folder, the journal's open
    /// installs, the boot content, the servers (not yet bound).
    private func prepare() throws {
        let (nic, address) = try config.resolveNetwork()
        serverAddress = address
        interfaceName = nic.name
        if let short = DescriptorBudget.ensure(config.limits) { logger.warning("\(short)") }
        if journal == nil {
            logger.error("\(Self.eventsOffWarning)")
            logger.warning("admin actions (re-arming) are off: with no state folder in use there is no admin token")
        } else {
            prepareStateDirectory()
            loadProofs()
        }
        let readStarted = DispatchTime.now().uptimeNanoseconds
        installOnce.load()
        if let problem = installOnce.startProblem { bench.warnings.append(problem) }
        if let journal {
            // Two more reads of the last 24 h, newest first, each within limits.startup_read_*,
            // neither visiting the installers' own lines (debug-level, a flood's bulk; the
            // MESSAGE_ID match skips them): the install attempts (an install interrupted by a
            // restart keeps its INSTALL_ID), then everything the bench page shows. Apart, so
            // a flood of DHCP requests with made-up MACs can cut the bench's, not the installs'.
            let bound = config.limits.startupRead
            func readRecent(_ kinds: [InstallEventKind], for what: String, cut consequence: String) -> [JournalRecord]? {
                guard let read = try? JournalReader.readNewest(JournalQuery(since: bench.since, kinds: kinds), within: bound) else { return nil }
                if let cut = read.cutShort {
                    logger.warning("start-up read of \(what) stopped at its bound (\(cut); limits.startup_read_events, limits.startup_read_seconds): \(consequence)")
                }
                return read.records
            }
            if let attempts = readRecent(InstallEventRecorder.attemptKinds, for: "the last 24 h's install attempts",
                                   cut: "an install started before the newest read is not resumed (its events lose their install ID)") {
                journal.restoreOpenInstalls(from: attempts) { mac, id in
                    (try? JournalReader.latest(JournalQuery(matches: [.mac: mac, .installID: id], kinds: [.installerLog]))) != nil
                }
            }
            let benchRecords = readRecent(InstallEventKind.allCases.filter { $0 != .installerLog }, for: "the bench page's last 24 h",
                                    cut: "the bench page starts from the newest events read")
            if let benchRecords { bench.rebuild(from: benchRecords) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - readStarted) / 1e9
            logger.info("start-up read of the journal done", metadata: [
                "seconds": "\((seconds * 1000).rounded() / 1000)", "bench_events": "\(benchRecords?.count ?? 0)",
                "install_once_machines": "\(installOnce.current.machines.count)",
            ])
        }
        bootContent = BootContentStore(loadBootContent(address: address))
    }

    private func proxyService(_ started: AsyncStream<String>.Continuation) -> any Service {
        let listen = ProxyListenSettings(
            device: interfaceName,
            dhcpPort: config.proxyDHCP.answerOnDHCPPort ? ProxyPort.dhcp.rawValue : nil,
            pxePort: config.proxyDHCP.answerOnPXEPort ? ProxyPort.pxe.rawValue : nil,
            receiveBufferBytes: Int32(config.limits.receiveBufferKiB * 1024))
        proxyPorts = [listen.dhcpPort, listen.pxePort].compactMap { $0 }.map { ":\($0)" }.joined(separator: " ")
        let events = self.events
        let service = ProxyDHCPService(policy: ProxyPolicy(settings: config.proxySettings(serverAddress: serverAddress)), listen: listen) { event in
            events.proxy(event)
        }
        proxy = service
        let nic = interfaceName
        return SocketService(description: "proxyDHCP", open: {
            do {
                try service.bind()
            } catch {
                throw ConfigRuntimeError("cannot listen for PXE clients on \(nic): \(error) (ports 67 and 4011 need root or CAP_NET_BIND_SERVICE; is another PXE server running?)")
            }
        }, serve: {
            do {
                try service.serve()
            } catch {
                throw ConfigRuntimeError("cannot read PXE clients' requests on \(nic): \(error)")
            }
        }, close: { service.stop() }, started: started, gate: servingGate)
    }

    /// Bound to the bench interface like the proxy; each transfer answers from the address
    /// its request was sent to. On SIGTERM running transfers go on until they end.
    private func tftpService(_ started: AsyncStream<String>.Continuation) -> any Service {
        let server = TFTPServer(
            settings: config.tftpServerSettings,
            listen: TFTPListenSettings(device: interfaceName, port: config.tftp.port,
                                       receiveBufferBytes: Int32(config.limits.receiveBufferKiB * 1024)),
            queue: DispatchQueue(label: "garage-pxe.tftp"),
            transferLoopCount: config.tftp.transferThreads) { [events] report in events.tftp(report) }
        tftp = server
        if let bootContent {
            let files = SignedChainFiles(config: config)
            files.register(on: server, content: bootContent)
            signedChain = files
        }
        let (nic, port) = (interfaceName, config.tftp.port)
        let abandoned = transfersAbandoned
        return SocketService(description: "TFTP", open: {
            do {
                try server.bind()
            } catch {
                throw ConfigRuntimeError("cannot serve TFTP on \(nic) port \(port): \(error) (is another TFTP server running?)")
            }
        }, serve: {
            server.serve()
        }, drain: {
            await server.transfersEnded()
        }, close: {
            abandoned.withLockedValue { $0 = server.activeTransfers }
            server.stop()
        }, started: started, gate: servingGate)
    }

    /// The installer's syslog (log_host/log_port) on the bench address. A port already taken
    /// costs the installers' progress lines, not the boots: warn and serve on.
    private func installerSyslogService(_ journal: InstallEventRecorder, started: AsyncStream<String>.Continuation) -> any Service {
        let logger = self.logger
        let sessions = reportSessions
        let receiver = InstallerSyslogReceiver(
            address: serverAddress, port: UInt16(config.installer.syslogPort),
            receiveBufferBytes: Int32(config.limits.receiveBufferKiB * 1024),
            openInstall: { ip in sessions.openSession(at: ip, purpose: .install) },
            onDropped: { refusal, ip in logger.debug("installer-syslog.dropped", metadata: ["from": "\(ip)", "reason": "\(refusal)"]) },
            onLine: { line, ip, mac in journal.installerSyslog(line, from: ip) { _ in mac } })
        installerSyslog = receiver
        let where_ = "\(serverAddress):\(config.installer.syslogPort)"
        return SocketService(description: "installer syslog", open: {
            do {
                try receiver.bind()
            } catch {
                logger.error("cannot receive the installers' syslog on \(where_): \(error); installs still boot, without their step events")
            }
        }, serve: { receiver.serve() }, close: { receiver.stop() }, started: started, gate: servingGate)
    }

    /// Menus with errors at start do not stop the daemon: PCs get a script that says so and
    /// retries, the errors are logged, and the first clean reload (a save, SIGHUP) takes over.
    private func loadBootContent(address: IPv4Address) -> BootSnapshot {
        let proxy = installerProxy(address: address)
        do {
            let (loaded, imageProblems) = try BootContentLoader.snapshot(config, address: address, proxy: proxy)
            for problem in imageProblems { logger.warning("image skipped: \(problem)") }
            return loaded
        } catch {
            logger.errorLines("the menus have errors; PCs are told so until they are fixed:", error)
            return BootSnapshot(menus: nil, server: BootContentLoader.serverSettings(config, address: address, proxy: proxy))
        }
    }

    /// The HTTP server (boot scripts, images, preseeds, the bench page).
    private func httpService(_ started: AsyncStream<String>.Continuation) throws -> any Service {
        guard let store = bootContent else { throw ConfigRuntimeError("the boot content was not loaded") }
        let logger = self.logger
        let journal = self.journal
        let events = self.events
        let boundPort = httpBoundPort
        let gate = servingGate
        // /tftp/ follows the TFTP server's jail, trusted link targets included: Debian's
        // /usr/lib/ipxe/ipxe.efi is a link to /boot/ipxe.efi.
        var httpConfiguration = BootHTTPConfiguration(
            host: config.httpListenAddress, port: Int(config.httpPort), imagesDirectory: config.imagesDirectory,
            tftpRoot: config.tftpRoot, tftpTrustedLinkTargets: config.tftp.trustedLinkTargets,
            zeroCopyFiles: config.httpSendfile, limits: config.limits.http)
        // Debian's signed chain (made with the TFTP service) over HTTP too, for UEFI HTTP boot.
        if let chainFiles = signedChain {
            httpConfiguration.signedChainFile = { path in chainFiles.contents(of: path, content: store) }
            httpConfiguration.signedChainProbe = { SignedChainFiles.expectedProbe($0) }
        }
        let app = BootHTTPServer.application(
            configuration: httpConfiguration,
            content: store, logger: logger, statistics: httpStatistics,
            onEvent: { event in
                events.http(event)
            },
            onRunning: { port in
                boundPort.withLockedValue { $0 = port }
                started.yield("HTTP")
                // Connections wait in the kernel's accept queue until the gate opens.
                _ = await gate.opened()
            },
            bench: bench,
            installOnce: { [installOnce] mac in await installOnce.status(mac: mac.description) },
            proof: BootHTTPProof(sessions: reportSessions, adminToken: adminToken, macOfAddress: { ip in
                Self.neighbourMAC(ip)
            }),
            reports: ReportSettings(sessions: reportSessions),
            records: journal == nil ? nil : machineRecordsAccess())
        let (host, port) = (config.httpListenAddress, config.httpPort)
        return HTTPService(app: app, statistics: httpStatistics) { error in
            ConfigRuntimeError("cannot serve HTTP on \(host):\(port): \(error) (port 80 needs root or CAP_NET_BIND_SERVICE; is another web server using it?)")
        }
    }
    /// `site` as the certificates name it: a reload changes it.
    private let siteName = NIOLockedValueBox("")
    /// The port the HTTP server listens on (the kernel's pick for port 0), once it does.
    private let httpBoundPort = NIOLockedValueBox(0)

    /// Menu files saved, or an image imported: the supervisor reloads the boot content.
    private func makeWatcher(_ request: AsyncStream<Request>.Continuation) -> FolderWatcher? {
        let menus = config.menusDirectory
        let folders = [menus, menus + "/templates", menus + "/postinstall", config.imagesDirectory]
        let made = FolderWatcher(folders: folders, queue: DispatchQueue(label: "garage-pxe.folder-watcher")) {
            request.yield(.filesChanged)
        }
        watcher = made
        return made
    }

    /// The daemon's own task: waits until every service is bound, drops privileges, lets
    /// the services read requests (ServingGate), sends READY; then takes SIGHUP, file
    /// changes and its timers one at a time until SIGTERM, when it starts the stop (new
    /// clients refused at once).
    private func supervise(startups: AsyncStream<String>, expected: Int, requests: AsyncStream<Request>,
                           request: AsyncStream<Request>.Continuation) async throws {
        // Trapped now: SIGHUP's default action would end the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        var bound = 0
        for await _ in startups {
            bound += 1
            if bound == expected { break }
        }
        guard bound == expected, !Task.isCancelled else { return }
        try becomeReady()
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { for await _ in hangups { request.yield(.reload) } }
            if let usec = SystemdNotify.watchdogIntervalMicroseconds() {
                // Half the interval systemd asked for, sent from the supervisor's own loop:
                // if that loop ever wedges, the pings stop and systemd restarts us.
                tasks.addTask { [clock] in await Self.tick(every: .microseconds(max(usec / 2, 10_000)), .watchdog, on: clock, into: request) }
            }
            tasks.addTask { [clock] in await Self.tick(every: .seconds(10), .status, on: clock, into: request) }
            // Silent installers become installer.stalled, within a second of installer.stall_seconds.
            if journal != nil { tasks.addTask { [clock] in await Self.tick(every: .seconds(1), .stallCheck, on: clock, into: request) } }
            for await next in requests.cancelOnGracefulShutdown() {
                switch next {
                case .reload: reload()
                case .filesChanged: reloadBootContent(reason: "files changed")
                case .status: SystemdNotify.status(statusLine())
                case .watchdog: SystemdNotify.send("WATCHDOG=1")
                case .stallCheck: journal?.checkSilences()
                }
            }
            tasks.cancelAll()
        }
        if !Task.isCancelled {
            // Trapped before STOPPING is sent, so a second signal after it is never missed.
            let again = await UnixSignalsSequence(trapping: .sigterm, .sigint)
            beginStop(secondSignal: again)
        }
    }

    private static func tick(every interval: Duration, _ what: Request, on clock: any Clock<Duration>,
                             into request: AsyncStream<Request>.Continuation) async {
        while !Task.isCancelled {
            request.yield(what)
            try? await clock.sleep(for: interval)
        }
    }

    /// Every socket is open: nothing privileged is needed any more. Once every thread has
    /// dropped it for good, and not before, the services start reading requests.
    private func becomeReady() throws {
        do {
            try Privileges.finish(privileges)
        } catch {
            throw ConfigRuntimeError("cannot drop privileges to user '\(config.user)': \(error)")
        }
        servingGate.open()
        var runningAs = "uid \(getuid())"
        switch privileges {
        case .binding(let user, _, _): runningAs = user
        case .keptRoot:
            logger.warning("'user: root' in the configuration: the daemon runs as root, so a flaw in any service it answers with is root's; the unit and the package run it as garage-pxe")
            runningAs = "root"
        case .notRoot: break
        }
        httpPort = httpBoundPort.withLockedValue { $0 }
        logger.notice("garage-pxe started", metadata: [
            "site": "\(config.site)", "interface": "\(interfaceName)", "address": "\(serverAddress)",
            "proxy_ports": "\(proxyPorts)", "tftp_port": "\(config.tftp.port)", "tftp_root": "\(config.tftpRoot)",
            "http_port": "\(httpPort)", "syslog_port": "\(installerSyslog?.port ?? 0)", "config": "\(configPath)", "user": "\(runningAs)",
        ])
        events.daemon(.daemonStarted, message: "garage-pxe started on \(interfaceName) \(serverAddress)")
        SystemdNotify.ready(status: statusLine())
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

    /// A reload's syslog address or port: the receiver moves there (the old socket closed
    /// once the new one is bound). false: the new port could not be bound, the receiver
    /// stays where it was, and so must the port handed to installers.
    private func moveInstallerSyslog(address: IPv4Address, port: Int) -> Bool {
        guard let receiver = installerSyslog,
              receiver.address != address || Int(receiver.port) != port else { return true }
        do {
            try receiver.rebind(address: address, port: UInt16(port))
            logger.notice("installer syslog moved", metadata: ["address": "\(address)", "syslog_port": "\(port)"])
            return true
        } catch {
            logger.error("configuration reload: cannot receive the installers' syslog on \(address):\(port): \(error); still on port \(receiver.port), which installers keep being given")
            return false
        }
    }

    /// The MAC the kernel's neighbour table has for a dotted IPv4 address: learnt from the
    /// PC's own ARP traffic, so a host elsewhere cannot claim another PC's MAC and be believed.
    static func neighbourMAC(_ ip: String) -> MACAddress? {
        IPv4Address(ip).flatMap(NeighbourTable.hardwareAddress(of:))
    }

    /// The per-PC record's source for the bench (machine pages, CSV, certificates): the whole
    /// journal (without the installers' raw lines), read on the blocking thread pool, never
    /// on an event loop. The site key is made now, under the state folder, if it is not there yet.
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
        let site = siteName
        site.withLockedValue { $0 = config.site }
        return MachineRecordsAccess(
            events: {
                try await BlockingWork.run { () throws(JournalReadError) in
                    let kinds = InstallEventKind.allCases.filter { $0.concernsMachine && $0 != .installerLog }
                    return try JournalReader.read(JournalQuery(kinds: kinds))
                }
            },
            signingKey: key, site: { site.withLockedValue { $0 } })
    }

    /// The installer's proxy, decided at start and at each reload (so `systemctl reload` takes
    /// an apt-cacher-ng installed after the daemon started), logged with its reason.
    private func installerProxy(address: IPv4Address) -> InstallerProxy.Decision {
        let decision = InstallerProxy.decide(config.installer.proxy, serverAddress: address.description)
        logger.notice("installer proxy: \(decision.url ?? "none") (\(decision.reason))")
        return decision
    }

    /// Re-reads menus, templates and images; on any error the served version stays and
    /// the errors are logged, each with its file:line:column.
    private func reloadBootContent(reason: String) {
        guard let bootContent else { return }
        do {
            let (snapshot, imageProblems) = try BootContentLoader.snapshot(config, address: serverAddress,
                                                                           proxy: installerProxy(address: serverAddress))
            for problem in imageProblems { logger.warning("image skipped: \(problem)") }
            bootContent.replace(with: snapshot)
            events.daemon(.configReloaded, message: "garage-pxe menus reloaded (\(reason))")
            logger.notice("menus reloaded", metadata: [
                "reason": "\(reason)", "entries": "\(snapshot.menus?.menu.entries.count ?? 0)", "images": "\(snapshot.menus?.images.count ?? 0)",
            ])
        } catch {
            events.daemon(.configRefused, message: "garage-pxe refused the new menus (\(reason))", reason: "\(error)")
            logger.errorLines("menus reload refused, still serving the previous menus (\(reason)):", error)
        }
    }

    /// One line for `systemctl status`: what is served and what has happened so far.
    private func statusLine() -> String {
        let s = proxy?.statistics ?? ProxyStatistics()
        let t = tftp?.statistics ?? TFTPServerStatistics()
        let h = httpStatistics.counts
        return "proxyDHCP on \(interfaceName) \(serverAddress): \(s.answered) answered, \(s.ignoredTotal) ignored, \(s.malformedTotal) malformed; TFTP :\(config.tftp.port) \(tftp?.activeTransfers ?? 0) transfers running, \(t.refusedTotal) refused, \(t.malformed + t.stray) dropped; HTTP \(h.refusedTotal) refused, \(h.malformedConnections + h.closedBeforeRequest) connections dropped (\(h.overConnectionCap) over the cap, \(h.slowReaderCloses) slow readers)\(installerSyslogStatus)"
    }

    private var installerSyslogStatus: String {
        guard let s = installerSyslog?.statistics else { return "" }
        return "; installer syslog \(s.lines) lines, \(s.dropped) dropped, \(s.unknownSender) from senders with no open install, \(s.rateLimited) over the rate limit"
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
            guard plan.unclassified.isEmpty else {
                throw ConfigRuntimeError("\(plan.unclassified.joined(separator: ", ")) changed, and this build does not say whether it applies live: restart to take the new file")
            }
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
            siteName.withLockedValue { $0 = plan.config.site }
            journal?.changeStallSeconds(to: plan.config.installer.stallSeconds)
            config = plan.config
            serverAddress = address
            events.daemon(.configReloaded, message: "garage-pxe configuration reloaded")
            logger.notice("configuration reloaded", metadata: [
                "config": "\(configPath)", "changed": "\(plan.applied.isEmpty ? "-" : plan.applied.joined(separator: ","))",
            ])
        } catch {
            events.daemon(.configRefused, message: "garage-pxe refused the new configuration", reason: "\(error)")
            logger.errorLines("configuration reload refused, keeping the running configuration:", error)
        }
        // The menus have their own last-good copy: reload them whatever the config did.
        reloadBootContent(reason: "SIGHUP")
    }

    /// Set when the graceful stop begins: from then on, an error out of the group (a second
    /// signal, the grace period over) still ends in a clean exit.
    private let stopBegan = NIOLockedValueBox(false)

    /// Graceful stop, first step: stop answering new clients at once (the HTTP server closes
    /// its listening socket next, in the group's reverse order), then let running TFTP
    /// transfers and HTTP downloads go on for up to `limits.stop_grace_seconds` (a PC
    /// halfway through its loader or initrd would otherwise have to start over).
    private func beginStop(secondSignal: UnixSignalsSequence) {
        stopBegan.withLockedValue { $0 = true }
        SystemdNotify.stopping()
        let stats = proxy?.statistics
        proxy?.stop()
        tftp?.stopAccepting()
        transfersAtStop = tftp?.activeTransfers ?? 0
        events.daemon(.daemonStopping, message: "garage-pxe stopping")
        logger.notice("garage-pxe stopping", metadata: [
            "answered": "\(stats?.answered ?? 0)",
            "ignored": "\(stats?.ignoredTotal ?? 0)", "malformed": "\(stats?.malformedTotal ?? 0)",
            "tftp_transfers_running": "\(transfersAtStop)",
            "grace_seconds": "\(config.limits.stopGraceSeconds)",
            "installer_syslog_lines": "\(installerSyslog?.statistics.lines ?? 0)",
            "installer_syslog_dropped": "\(installerSyslog?.statistics.dropped ?? 0)",
            "installer_syslog_unknown_senders": "\(installerSyslog?.statistics.unknownSender ?? 0)",
            "installer_syslog_rate_limited": "\(installerSyslog?.statistics.rateLimited ?? 0)",
            "machine_table_evictions": "\((journal?.machineTableEvictions ?? 0) + bench.evictedMachines)",
        ].merging(RobustnessCounters.metadata(tftp: tftp?.statistics, http: httpStatistics.counts)) { a, _ in a })
        let grace = config.limits.stopGraceSeconds
        guard let group = groupTask.withLockedValue({ $0 }) else { return }
        let logger = self.logger
        Task.detached {
            for await signal in secondSignal {
                logger.warning("\(signal) again during the stop: cutting what is still running")
                group.cancel()
                break
            }
        }
        let deadlines = StopDeadlines(clock: clock, grace: .seconds(grace), cancelGrace: .seconds(Self.cancelGraceSeconds))
        let timer = Task.detached { [self] in
            await deadlines.run(graceOver: {
                logger.warning("the stop grace period (\(grace) s) is over: cutting what is still running")
                group.cancel()
            }, cancelOver: {
                logger.error("services still running \(Self.cancelGraceSeconds) s after being cancelled: exiting anyway")
                finishStop()
                exit(0)
            })
        }
        stopDeadlines.withLockedValue { $0 = timer }
    }

    /// Graceful stop, last step: every service has ended.
    private func finishStop() {
        journal?.flush()
        installOnce.flush()
        let left = transfersAbandoned.withLockedValue { $0 }
        logger.notice("garage-pxe stopped", metadata: [
            "tftp_transfers_finished": "\(max(0, transfersAtStop - left))", "tftp_transfers_abandoned": "\(left)",
        ])
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
