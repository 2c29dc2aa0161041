// The HTTP side of a boot: the scripts iPXE runs, the files it downloads, the preseed the
// Debian installer reads, and the progress calls it makes. Only these routes exist;
// anything else is 404. Every value from a URL is validated before it reaches a template,
// a file path or an event.

import BootMenus
import FileJail
import Foundation
import Hummingbird
import HummingbirdCore
import Images
import InstallJournal
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NetworkAddresses

public struct BootHTTPConfiguration: Sendable {
    /// Address to listen on ("0.0.0.0": every interface).
    public var host: String
    /// 0 picks a free port (tests); the bound one is passed to `onRunning`.
    public var port: Int
    public var imagesDirectory: String
    /// Boot loaders for UEFI HTTP boot, served read-only under /tftp/.
    public var tftpRoot: String
    /// Folders outside the TFTP root that its symlinks may lead into (the same setting
    /// and the same FileJail rule as the TFTP server, so both protocols serve the same files).
    public var tftpTrustedLinkTargets: [String]
    /// Bytes read from disk per write when streaming a file (with `zeroCopyFiles` off).
    public var fileChunkBytes: Int
    /// Files go from the page cache to the socket with sendfile(2). Off: read in chunks and
    /// written, for file systems where sendfile misbehaves (as nginx's `sendfile off`).
    public var zeroCopyFiles: Bool
    /// A connection that has not sent a whole request for this long is closed (slow or
    /// silent clients would otherwise hold a connection each for ever). Responses being
    /// written, however slowly they are read, are not cut.
    public var idleTimeout: Duration
    /// Longest path + query accepted (414 beyond): iPXE's longest URL, every DMI field at
    /// its 64-character maximum, is under 1 KiB; the HTTP decoder alone would take 80 KiB.
    public var maxRequestTargetBytes: Int
    /// Connection caps, request deadline, minimum send rate, event stream cap.
    public var limits: HTTPConnectionLimits
    /// Debian's signed chain for UEFI HTTP boot, at the paths TFTP serves it under
    /// (`debian-installer/amd64/…`, no leading slash): shim, GRUB and the rendered grub.cfg,
    /// looked up at each request; nil: 404.
    public var signedChainFile: @Sendable (String) -> [UInt8]? = { _ in nil }
    /// Why a path of the chain's folder that `signedChainFile` does not have is one the
    /// chain asks for on every boot and does without (nil: a real 404). Such a request is
    /// answered 404 all the same, as `.probeNotFound` (not `.refused`), counted apart.
    public var signedChainProbe: @Sendable (String) -> String? = { _ in nil }

    public init(host: String = "0.0.0.0", port: Int, imagesDirectory: String, tftpRoot: String, tftpTrustedLinkTargets: [String] = [],
                fileChunkBytes: Int = 256 * 1024, zeroCopyFiles: Bool = true, idleTimeout: Duration = .seconds(60),
                maxRequestTargetBytes: Int = 8192, limits: HTTPConnectionLimits = HTTPConnectionLimits()) {
        self.host = host
        self.port = port
        self.imagesDirectory = imagesDirectory
        self.tftpRoot = tftpRoot
        self.tftpTrustedLinkTargets = tftpTrustedLinkTargets
        self.fileChunkBytes = fileChunkBytes
        self.zeroCopyFiles = zeroCopyFiles
        self.idleTimeout = idleTimeout
        self.maxRequestTargetBytes = maxRequestTargetBytes
        self.limits = limits
    }
}

/// What requests that change state are checked against. A PC proves it is itself by
/// asking from the address the kernel's neighbour table ties to its MAC (only then does it
/// get its install's token), and later by presenting that token; an admin by the admin token.
public struct BootHTTPProof: Sendable {
    public var sessions: ReportSessions
    public var adminToken: AdminToken
    /// The MAC the kernel's neighbour table has for a dotted IPv4 address; nil: unknown
    /// (loopback, the server itself, a PC behind a router).
    public var macOfAddress: @Sendable (String) -> MACAddress?

    /// The defaults prove nothing: no token is issued, no admin action accepted.
    public init(sessions: ReportSessions = ReportSessions(directory: nil), adminToken: AdminToken = .unusable(),
                macOfAddress: @escaping @Sendable (String) -> MACAddress? = { _ in nil }) {
        self.sessions = sessions
        self.adminToken = adminToken
        self.macOfAddress = macOfAddress
    }

    func proves(_ mac: MACAddress, from remote: String) -> Bool { macOfAddress(remote) == mac }
}

/// A request context that knows the client's address (for the events) and the
/// connection (to send files with sendfile, or to pace streaming them).
public struct BootRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remote: String
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remote = source.channel.remoteAddress?.ipAddress ?? "-"
        channel = source.channel
    }
}

public enum BootHTTPServer {
    /// The application; run it with `run()` (it stops when its task is cancelled). It
    /// accepts no connection before `onRunning` returns: they wait in the kernel's accept
    /// queue meanwhile (the daemon drops its last privileges there).
    public static func application(
        configuration: BootHTTPConfiguration, content: BootContentStore, logger: Logger,
        statistics: BootHTTPStatistics = BootHTTPStatistics(),
        onEvent: @escaping @Sendable (BootHTTPEvent) -> Void,
        onRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in },
        bench: BenchView? = nil, benchStream: BenchStreamSettings = BenchStreamSettings(),
        installOnce: @escaping @Sendable (MACAddress) async -> InstallOnceStatus = { _ in .armed },
        proof: BootHTTPProof = BootHTTPProof(),
        reports: ReportSettings = ReportSettings(), records: MachineRecordsAccess? = nil
    ) -> some ApplicationProtocol {
        let router = Router(context: BootRequestContext.self)
        let routes = BootRoutes(configuration: configuration, content: content, statistics: statistics, onEvent: onEvent,
                                installOnce: installOnce, proof: proof)
        routes.register(on: router)
        ReportRoutes(settings: reports, onEvent: onEvent, refuse: { routes.refuse($0, $1, $2, $3) }).register(on: router)
        if let bench {
            BenchRoutes(view: bench, stream: benchStream, onEvent: onEvent,
                        streams: EventStreamSlots(limit: configuration.limits.maxEventStreams, statistics: statistics)).register(on: router)
        }
        let gate = ConnectionGate(limits: configuration.limits)
        if let records { MachineRoutes(access: records, onEvent: onEvent).register(on: router) }
        let accepting = AcceptAfterStart()
        return Application(
            router: router,
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ConnectionAccounting(statistics: statistics), ConnectionBounds(gate: gate, statistics: statistics),
                                            FileRegionSender.Installer()],
                idleTimeout: .nanoseconds(configuration.idleTimeout.wholeNanoseconds))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "garage-pxe",
                                 availableConnectionsDelegate: accepting),
            onServerRunning: { channel in
                await onRunning(channel.localAddress?.port ?? configuration.port)
                guard !Task.isCancelled else { return }
                accepting.begin()
                // The listening socket's first read was held: ask for it again.
                channel.read()
            },
            logger: logger)
    }
}

/// Holds every accept of the listening socket until `begin()`: Hummingbird asks it before
/// each read of that socket, and a read it refuses is not asked again by itself.
struct AcceptAfterStart: AvailableConnectionsDelegate {
    private let begun = NIOLockedValueBox(false)

    func begin() { begun.withLockedValue { $0 = true } }
    func isAcceptingNewConnections() -> Bool { begun.withLockedValue { $0 } }
    // Connections are counted and capped elsewhere (ConnectionGate).
    func connectionOpened() {}
    func connectionClosed() {}
}

struct BootRoutes: Sendable {
    let configuration: BootHTTPConfiguration
    let content: BootContentStore
    let statistics: BootHTTPStatistics
    let onEvent: @Sendable (BootHTTPEvent) -> Void
    /// Install once: whether this machine's last install finished, or that it cannot be
    /// told (the daemon asks its state file and the journal, off the event loop).
    let installOnce: @Sendable (MACAddress) async -> InstallOnceStatus
    let proof: BootHTTPProof
    var files: FileResponder { FileResponder(chunkBytes: configuration.fileChunkBytes, zeroCopy: configuration.zeroCopyFiles) }

    func register(on router: Router<BootRequestContext>) {
        let limit = configuration.maxRequestTargetBytes
        router.add(middleware: RequestTargetLimit(maxBytes: limit) { request, context in
            self.refuse(request, context, .uriTooLong, "request target longer than \(limit) bytes")
        })
        router.get("boot.ipxe") { request, context in await self.bootScript(request, context) }
        router.get("boot.grub") { request, context in await self.grubMenu(request, context) }
        router.get("boot/:script") { request, context in
            context.parameters.get("script")?.hasSuffix(".grub") == true ? self.grubEntry(request, context) : self.entryScript(request, context)
        }
        // GRUB booted by UEFI HTTP boot fetches through the firmware's HTTP driver, which
        // sends a HEAD before each GET and reads only its status. A HEAD renders nothing and
        // records nothing (menu.shown, menu.chosen and the install token belong to the GET).
        router.head("boot.grub") { _, _ in Response(status: .ok) }
        router.head("boot/:script") { request, context in
            context.parameters.get("script")?.hasSuffix(".grub") == true
                ? Response(status: .ok) : self.refuse(request, context, .notFound, "no such file")
        }
        router.get("preseed/:file") { request, context in self.preseed(request, context) }
        router.get("progress") { request, context in self.progress(request, context) }
        // Re-arming erases a disk at the next boot: a POST with the admin token only. A GET
        // (a link, an <img>, a PC's iPXE) changes nothing.
        router.post("rearm") { request, context in self.rearm(request, context) }
        router.get("rearm") { request, context in
            var response = self.refuse(request, context, .methodNotAllowed, "re-arming is a POST with the admin token (garage-pxe rearm MAC, or the bench page)")
            response.headers[.allow] = "POST"
            return response
        }
        router.get("postinstall/:file") { request, context in self.postinstall(request, context) }
        for method in [HTTPRequest.Method.get, .head] {
            router.on("images/**", method: method) { request, context in
                self.file(request, context, prefix: "/images/", root: self.configuration.imagesDirectory, trusted: [],
                          contentType: "application/octet-stream")
            }
            router.on("tftp/**", method: method) { request, context in
                self.file(request, context, prefix: "/tftp/", root: self.configuration.tftpRoot,
                          trusted: self.configuration.tftpTrustedLinkTargets, contentType: "application/efi")
            }
            router.on("debian-installer/**", method: method) { request, context in self.signedChainFile(request, context) }
        }
    }

    // MARK: Scripts

    func bootScript(_ request: Request, _ context: BootRequestContext) async -> Response {
        let snapshot = content.snapshot
        guard let menus = snapshot.menus else {
            onEvent(.menusUnavailable(path: "/boot.ipxe", reason: "no valid menus loaded: sent the retry script", remote: context.remote))
            return text(Self.menusBrokenScript(snapshot.server))
        }
        let query = firstValues(request)
        guard query["mac"] != nil else {
            onEvent(.bootstrapSent(remote: context.remote))
            return text(menus.renderBootstrap(server: snapshot.server))
        }
        let machine: MachineIdentity
        do throws(MachineQueryError) {
            machine = try MachineIdentity(query: query)
        } catch {
            return refuse(request, context, .badRequest, error.description)
        }
        // Asked only when install once is on: it costs a journal lookup.
        let status = snapshot.server.installOnce.enabled ? await installOnce(machine.mac) : .armed
        let choice = menus.menu.choice(for: machine, status: status, policy: snapshot.server.installOnce)
        let proven = provenIdentity(machine, context)
        onEvent(.menuShown(machine: machine, entry: choice.defaultEntry?.id, remote: context.remote, proven: proven))
        return text(menus.renderMenu(for: machine, server: snapshot.server, status: status))
    }

    // MARK: GRUB (Debian's signed chain)

    /// `/boot.grub?mac=…`, sourced by the grub.cfg the TFTP side serves: the machine's GRUB
    /// menu, with the same install-once decision and the same menu.shown event as iPXE's.
    /// DMI fields are kept only from the PC's own address, as for `/boot.ipxe`.
    func grubMenu(_ request: Request, _ context: BootRequestContext) async -> Response {
        let snapshot = content.snapshot
        guard let menus = snapshot.menus else {
            onEvent(.menusUnavailable(path: "/boot.grub", reason: "no valid menus loaded: sent the retry script", remote: context.remote))
            return text(Self.grubMessage("les menus du serveur contiennent des erreurs (garage-pxe check)"))
        }
        let machine: MachineIdentity
        do throws(MachineQueryError) {
            machine = try grubMachine(request)
        } catch {
            return refuse(request, context, .badRequest, error.description)
        }
        let status = snapshot.server.installOnce.enabled ? await installOnce(machine.mac) : .armed
        guard let rendered = menus.renderGRUBMenu(for: machine, server: snapshot.server, status: status) else {
            onEvent(.menusUnavailable(path: "/boot.grub", reason: MenuRenderError.noGRUBTemplates.description, remote: context.remote))
            return text(Self.grubMessage("le dossier des menus n'a pas de modeles GRUB"))
        }
        let choice = menus.menu.choice(for: machine, status: status, policy: snapshot.server.installOnce)
        let proven = provenIdentity(machine, context)
        onEvent(.menuShown(machine: machine, entry: choice.defaultEntry?.id, remote: context.remote, proven: proven))
        return text(rendered)
    }

    /// `/boot/ENTRY.grub`: as `/boot/ENTRY.ipxe` (same token rule, see
    /// `reportToken`), the token on GRUB's `linux` line.
    func grubEntry(_ request: Request, _ context: BootRequestContext) -> Response {
        machineDocument(request, context, parameter: "script", suffix: ".grub") { (menus, id, machine, server) throws(MenuRenderError) in
            var machine = machine
            machine.chain = .secureBootShim
            let (proven, token) = reportToken(menus, id, machine, context)
            let script = try menus.renderGRUBEntry(id, for: machine, server: server, reportToken: token?.text)
            onEvent(.entryChosen(machine: machine, entry: id, remote: context.remote, proven: proven,
                                 installs: menus.menu.entry(id)?.kind == .debianInstaller))
            return script
        }
    }

    /// Who asks on a GRUB route: only Debian's signed GRUB does, on a UEFI PC.
    private func grubMachine(_ request: Request) throws(MachineQueryError) -> MachineIdentity {
        var machine = try MachineIdentity(query: firstValues(request), defaultPlatform: .efi)
        machine.chain = .secureBootShim
        return machine
    }

    /// A GRUB script that shows `message` and stops there (the person at the bench reboots).
    static func grubMessage(_ message: String) -> String {
        "echo 'garage-pxe: \(ASCIIText.transliterate(message).replacingOccurrences(of: "'", with: " "))'\nsleep 30\n"
    }

    /// `POST /rearm?mac=…[&by=cli|bench]` with `Authorization: Bearer ADMIN_TOKEN`: the
    /// machine's next network boot defaults to the installer again. The token is checked
    /// first, so a request without it learns nothing, not even whether the MAC is valid.
    /// A browser sends that header only from script on the bench page itself: a form or
    /// an <img> of another site cannot, and a cross-site fetch with it needs a CORS
    /// preflight this server never grants.
    func rearm(_ request: Request, _ context: BootRequestContext) -> Response {
        guard proof.adminToken.accepts(authorization: request.headers[.authorization]) else {
            let why = request.headers[.authorization] == nil ? "no admin token (Authorization: Bearer …)" : "wrong admin token"
            return refuse(request, context, .forbidden, "\(why): re-arming needs the token in \(AdminToken.fileName) of the state folder")
        }
        let query = firstValues(request)
        guard let macText = query["mac"], let mac = MACAddress(macText) else {
            return refuse(request, context, .badRequest, "query parameter 'mac' must be a MAC address such as 52:54:00:12:34:56")
        }
        let by = query["by"] == "cli" ? "garage-pxe rearm" : "bench page"
        onEvent(.rearmed(mac: mac.description, by: by, remote: context.remote))
        return text("\(mac): rearmed, its next network boot defaults to the installer\n")
    }

    /// Sent while no menus folder has ever loaded cleanly (e.g. no image imported yet): the
    /// PC says why on its screen and asks again, so fixing the files is enough.
    static func menusBrokenScript(_ server: ServerSettings) -> String {
        """
        #!ipxe
        echo garage-pxe (\(ASCIIText.transliterate(server.site))): les menus du serveur contiennent des erreurs.
        echo Voir 'garage-pxe check' ou 'journalctl -u garage-pxe' sur le serveur.
        echo Nouvel essai dans 30 secondes...
        sleep 30
        chain --replace --autofree \(server.baseURL)/boot.ipxe

        """
    }

    /// Whether a menu request comes from the PC itself (its address is its MAC's, see
    /// `BootHTTPProof`): only then are the DMI fields it sends kept. Both loaders' menu
    /// routes (`/boot.ipxe`, `/boot.grub`) ask here.
    private func provenIdentity(_ machine: MachineIdentity, _ context: BootRequestContext) -> Bool {
        let proven = proof.proves(machine.mac, from: context.remote)
        if !proven, machine.uuid != nil || machine.manufacturer != nil || machine.product != nil || machine.serial != nil {
            onEvent(.identityNotStored(mac: machine.mac.description, remote: context.remote))
        }
        return proven
    }

    /// An installer entry asked by the PC itself opens an install session, a diagnostic
    /// entry a diagnostic session: a new token of that purpose for the kernel command line.
    /// One rule for both loaders' entry routes (`/boot/ID.ipxe`, `/boot/ID.grub`);
    /// `machine.chain` picks which menu the entry must be shown in.
    private func reportToken(_ menus: MenuSet, _ id: String, _ machine: MachineIdentity,
                             _ context: BootRequestContext) -> (proven: Bool, token: ReportToken?) {
        let proven = proof.proves(machine.mac, from: context.remote)
        guard proven, let kind = menus.menu.entry(id)?.kind,
              menus.menu.choice(for: machine).entries.contains(where: { $0.id == id }) else { return (proven, nil) }
        let purpose: ReportPurpose
        switch kind {
        case .debianInstaller: purpose = .install
        case .diagnostic, .diagnosticErase: purpose = .diagnostic
        default: return (proven, nil)
        }
        return (proven, proof.sessions.issue(mac: machine.mac.description, purpose: purpose, address: context.remote))
    }

    /// An installer or diagnostic entry asked by the PC itself (its address is its MAC's)
    /// opens a session: a new token, on the kernel command line this script gives (in the
    /// preseed URL, or as garage_pxe.token). Anyone else reading the script gets it without one.
    func entryScript(_ request: Request, _ context: BootRequestContext) -> Response {
        machineDocument(request, context, parameter: "script", suffix: ".ipxe") { (menus, id, machine, server) throws(MenuRenderError) in
            let (proven, token) = reportToken(menus, id, machine, context)
            let script = try menus.renderEntry(id, for: machine, server: server, reportToken: token?.text)
            onEvent(.entryChosen(machine: machine, entry: id, remote: context.remote, proven: proven,
                                 installs: menus.menu.entry(id)?.kind == .debianInstaller))
            return script
        }
    }

    /// The installer's own fetch carries its install's token (from the kernel command line):
    /// installer.started, and the preseed's progress URLs carry the token on. Without a
    /// token (a person reading it) the same preseed is served, without a token in it, and
    /// nothing is recorded. A wrong token is refused.
    func preseed(_ request: Request, _ context: BootRequestContext) -> Response {
        let presented = firstValues(request)["token"]
        var wrongToken = false
        let response = machineDocument(request, context, parameter: "file", suffix: ".cfg") { (menus, id, machine, server) throws(MenuRenderError) in
            switch proof.sessions.verify(mac: machine.mac.description, purpose: .install, presented: presented, from: context.remote) {
            case .accepted:
                let preseed = try menus.renderPreseed(id, for: machine, server: server, reportToken: presented)
                onEvent(.preseedSent(machine: machine, entry: id, remote: context.remote))
                return preseed
            case .missing:
                let preseed = try menus.renderPreseed(id, for: machine, server: server)
                onEvent(.preseedRead(machine: machine, entry: id, remote: context.remote))
                return preseed
            case .wrong:
                wrongToken = true
                return ""
            }
        }
        return wrongToken ? refuse(request, context, .forbidden, "wrong install token for this MAC: nothing recorded") : response
    }

    /// `/boot/ENTRY.ipxe` and `/preseed/ENTRY.cfg`: an entry id from the path, the machine
    /// from the query, rendered from one snapshot.
    private func machineDocument(_ request: Request, _ context: BootRequestContext, parameter: String, suffix: String,
                                 render: (MenuSet, String, MachineIdentity, ServerSettings) throws(MenuRenderError) -> String) -> Response {
        guard let name = context.parameters.get(parameter), name.hasSuffix(suffix), name.count > suffix.count else {
            return refuse(request, context, .notFound, "no such document")
        }
        let id = String(name.dropLast(suffix.count))
        let snapshot = content.snapshot
        guard let menus = snapshot.menus else { return refuse(request, context, .serviceUnavailable, "the menus have errors") }
        let machine: MachineIdentity
        do throws(MachineQueryError) {
            machine = try MachineIdentity(query: firstValues(request))
        } catch {
            return refuse(request, context, .badRequest, error.description)
        }
        do throws(MenuRenderError) {
            return text(try render(menus, id, machine, snapshot.server))
        } catch {
            return refuse(request, context, .notFound, error.description)
        }
    }

    func progress(_ request: Request, _ context: BootRequestContext) -> Response {
        let query = firstValues(request)
        guard let macText = query["mac"], let mac = MACAddress(macText) else {
            return refuse(request, context, .badRequest, "query parameter 'mac' must be a MAC address such as 52:54:00:12:34:56")
        }
        guard let stage = query["stage"], isValidStage(stage) else {
            return refuse(request, context, .badRequest, "query parameter 'stage' must be 1 to 32 of a-z, 0-9, '-', '_', '.'")
        }
        switch proof.sessions.verify(mac: mac.description, purpose: .install, presented: query["token"], from: context.remote) {
        case .accepted: break
        case .missing: return refuse(request, context, .forbidden, "no install token: progress is reported by the PC's installer only")
        case .wrong: return refuse(request, context, .forbidden, "wrong install token for this MAC")
        }
        // The PC said its install ended: its syslog no longer counts (the token stays, for
        // the installed system's first boot).
        if stage == "finished" || stage == "failed" { proof.sessions.close(mac: mac.description, purpose: .install) }
        onEvent(.progress(mac: mac.description, stage: stage, remote: context.remote))
        return text("ok\n")
    }

    func postinstall(_ request: Request, _ context: BootRequestContext) -> Response {
        let snapshot = content.snapshot
        guard let name = context.parameters.get("file"), let path = snapshot.menus?.postinstallScriptPath(name),
              let data = FileManager.default.contents(atPath: path) else {
            return refuse(request, context, .notFound, "no such post-install script")
        }
        return Response(status: .ok, headers: [.contentType: "text/x-shellscript"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Files

    func file(_ request: Request, _ context: BootRequestContext, prefix: String, root: String, trusted: [String], contentType: String) -> Response {
        // The raw path, decoded one component at a time: "%2F" must not become a separator.
        let raw = request.uri.path
        guard raw.hasPrefix(prefix) else { return refuse(request, context, .notFound, "no such file") }
        let encoded = raw.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        let components = encoded.map { String($0).removingPercentEncoding }
        guard components.allSatisfy({ $0 != nil }) else { return refuse(request, context, .badRequest, "bad percent-encoding") }
        guard let jail = PathJail(root: root, trustedLinkTargets: trusted) else {
            return refuse(request, context, .notFound, JailRefusal.notFound.description)
        }
        let opened: JailedFile
        switch jail.open(components.map { $0! }) {
        case .success(let file): opened = file
        case .failure(let refusal):
            let status: HTTPResponse.Status
            switch refusal {
            case .badName, .outsideRoot: status = .forbidden
            case .notFound, .isDirectory, .notARegularFile, .cannotOpen: status = .notFound
            }
            return refuse(request, context, status, refusal.description)
        }
        let path = raw
        let remote = context.remote
        let onEvent = onEvent
        return files.respond(to: request, file: opened, contentType: contentType, channel: context.channel) { bytes, range in
            onEvent(.fileSent(path: path, bytes: bytes, range: range, remote: remote))
        }
    }

    /// Shim, GRUB or grub.cfg of the signed chain, for a UEFI HTTP boot client: the offer
    /// names the shim's URL, shim fetches `grubx64.efi` beside it, and GRUB reads
    /// `grub/grub.cfg` under its built-in prefix from the server it booted from.
    func signedChainFile(_ request: Request, _ context: BootRequestContext) -> Response {
        // Shim asks for `…/amd64//grubx64.efi`: it joins its own folder and the name with
        // a slash of its own. Only three exact paths answer, so this cannot reach elsewhere.
        let relative = request.uri.path.split(separator: "/").joined(separator: "/")
        let path = "/" + relative
        guard let bytes = configuration.signedChainFile(relative) else {
            guard let why = configuration.signedChainProbe(relative) else { return refuse(request, context, .notFound, "no such file") }
            statistics.countExpectedProbe()
            onEvent(.probeNotFound(path: path, reason: why, remote: context.remote))
            return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "garage-pxe: \(why)\n")))
        }
        let isHead = request.method == .head
        if !isHead { onEvent(.fileSent(path: path, bytes: Int64(bytes.count), range: nil, remote: context.remote)) }
        return Response(status: .ok,
                        headers: [.contentType: path.hasSuffix(".efi") ? "application/efi" : "text/plain; charset=utf-8",
                                  .contentLength: String(bytes.count)],
                        body: isHead ? .init() : .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    // MARK: Helpers

    private func text(_ body: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func refuse(_ request: Request, _ context: BootRequestContext, _ status: HTTPResponse.Status, _ reason: String) -> Response {
        statistics.countRefusal(status: status.code)
        // The path is logged as received (still percent-encoded), so it cannot break a log line.
        onEvent(.refused(path: String(request.uri.path.prefix(256)), status: status.code, reason: reason, remote: context.remote))
        return Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: "garage-pxe: \(reason)\n")))
    }

    /// Query parameters, percent-decoded, the first of each name winning.
    private func firstValues(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters where values[String(key)] == nil {
            values[String(key)] = String(value)
        }
        return values
    }
}

/// Refuses an over-long path + query before any route parses it.
struct RequestTargetLimit: RouterMiddleware {
    typealias Context = BootRequestContext
    let maxBytes: Int
    let refuse: @Sendable (Request, BootRequestContext) -> Response

    func handle(_ request: Request, context: BootRequestContext,
                next: (Request, BootRequestContext) async throws -> Response) async throws -> Response {
        guard request.uri.description.utf8.count <= maxBytes else { return refuse(request, context) }
        return try await next(request, context)
    }
}

func isValidStage(_ s: String) -> Bool {
    (1...32).contains(s.count) && s.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || "-_.".unicodeScalars.contains($0) }
}
