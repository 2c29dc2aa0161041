// The daemon's configuration: `config/garage-pxe.yaml` (installed as
// /etc/garage-pxe/garage-pxe.yaml), every key documented in that file. Loading never
// stops at the first mistake: all of them come back as file:line:column diagnostics.

import BootHTTP
import BootMenus
import DHCP
import FileJail
import Foundation
import Images
import InstallJournal
import NetworkAddresses
import TFTP
import UDP
import YAMLDiagnostics

public struct GaragePXEConfig: Sendable, Equatable {
    public struct ProxyDHCP: Sendable, Equatable {
        public var answerOnDHCPPort = true
        public var answerOnPXEPort = true
        public var biosDiscoveryControl: UInt8? = ProxySettings.defaultBIOSDiscoveryControl
        public var efiDiscoveryControl: UInt8? = nil
        public var snponlyMACs: [MACAddress] = []
        public var snponlyVendorPrefixes: [[UInt8]] = []
        /// UEFI PCs that get iPXE although `bootfiles.efi` is the signed chain.
        public var uefiIPXEMACs: [MACAddress] = []
        public var uefiIPXEVendorPrefixes: [[UInt8]] = []
        public var ipxeUserClasses: [String] = ProxySettings.defaultIPXEUserClasses
    }

    public struct Bootfiles: Sendable, Equatable {
        /// `bootfiles.efi`'s value for Debian's signed chain (shim, then GRUB).
        public static let signedChain = "signed"
        public static let defaultSignedChainImage = "debian-13-amd64"
        public var bios = ProxySettings.defaultBIOSBootfile
        /// `signed`, or the file name of an iPXE loader (as before the signed chain existed).
        public var efi = Bootfiles.signedChain
        /// The iPXE loader of UEFI PCs that use iPXE while `efi` is `signed`.
        public var efiIPXE = ProxySettings.defaultEFIBootfile
        public var efiSNPOnly = ProxySettings.defaultEFISNPOnlyBootfile
        public var arm64: String? = nil
        /// The image whose signed shim and GRUB the signed chain serves.
        public var signedChainImage = Bootfiles.defaultSignedChainImage

        public var usesSignedChain: Bool { efi == Self.signedChain }
        /// The iPXE loader UEFI PCs get when they run iPXE.
        public var efiIPXELoader: String { usesSignedChain ? efiIPXE : efi }
    }

    public struct TFTP: Sendable, Equatable {
        public var port = TFTPListenSettings.defaultPort
        /// Folders outside the root that symlinks inside it may point into.
        public var trustedLinkTargets: [String] = []
        /// Longest wait for an ACK before sending again.
        public var timeoutMilliseconds = TFTPRetransmitPolicy.defaultCeilingMilliseconds
        /// Silences in a row before a transfer is abandoned.
        public var retries = TFTPRetransmitPolicy.defaultMaxRetries
        public var refuseOptions: [TFTPOptionRefusal] = []
        /// Threads moving the transfers' blocks (each one epoll loop for many transfers).
        public var transferThreads = TFTPServer.defaultTransferLoopCount
    }

    /// What the Debian installer is told (preseeds, kernel arguments).
    public struct Installer: Sendable, Equatable {
        public var mirror = ServerSettings.defaultMirrorURL
        /// HTTP proxy for the installer's downloads: auto (this server's apt-cacher-ng when it
        /// answers, see InstallerProxy), none, or a URL.
        public var proxy = InstallerProxy.Setting.auto
        /// UDP port the installer sends its syslog to (log_port), on this server.
        public var syslogPort = ServerSettings.defaultSyslogPort
        /// Seconds without a syslog line from an open install before its PC is shown as
        /// stalled (installer.stalled): long enough for the slowest quiet step on a bench
        /// PC (a big package unpacking sends lines; a dialog sends none).
        public var stallSeconds = Installer.defaultStallSeconds
        public static let defaultStallSeconds = 300
    }

    public struct Limits: Sendable, Equatable {
        public var maxTFTPTransfers = TFTPServerSettings.defaultMaxTransfers
        public var maxTFTPTransfersPerClient = TFTPServerSettings.defaultMaxTransfersPerClient
        /// Seconds a transfer may go without a useful packet from its client.
        public var tftpSilentTransferSeconds = TFTPRetransmitPolicy.defaultSilenceSeconds
        public var tftpMaxBlockSize = TFTPNegotiationLimits.defaultMaxBlockSize
        public var tftpMaxWindowSize = TFTPNegotiationLimits.defaultMaxWindowSize
        public var receiveBufferKiB = 1024
        /// On SIGTERM, how long running TFTP transfers and HTTP downloads may take to finish.
        public var stopGraceSeconds = 15
        public var maxHTTPConnections = HTTPConnectionLimits.defaultMaxConnections
        public var maxHTTPConnectionsPerClient = HTTPConnectionLimits.defaultMaxConnectionsPerClient
        public var httpRequestSeconds = HTTPConnectionLimits.defaultRequestSeconds
        public var httpMinSendBytesPerSecond = HTTPConnectionLimits.defaultMinimumSendBytesPerSecond
        public var maxEventStreams = HTTPConnectionLimits.defaultMaxEventStreams
        /// Each start-up read of the journal (install once's deciding events; the last 24 h's
        /// install attempts; the bench's last 24 h) reads at most this many events, for at
        /// most this many seconds.
        public var startupReadEvents = InstallOnceTracker.defaultReadBound.maxRecords
        public var startupReadSeconds = Int(InstallOnceTracker.defaultReadBound.maxSeconds)

        public var startupRead: JournalReadBound {
            JournalReadBound(maxRecords: startupReadEvents, maxSeconds: Double(startupReadSeconds))
        }

        /// The HTTP server's bounds from the keys above.
        public var http: HTTPConnectionLimits {
            HTTPConnectionLimits(maxConnections: maxHTTPConnections, maxConnectionsPerClient: maxHTTPConnectionsPerClient,
                                 requestDeadline: .seconds(httpRequestSeconds), minimumSendBytesPerSecond: httpMinSendBytesPerSecond,
                                 maxEventStreams: maxEventStreams)
        }
    }

    /// The file this was read from (nil: built-in defaults only).
    public var sourceFile: String?
    public var site = "garage-pxe"
    /// Unprivileged user the daemon becomes after binding its ports when started as root.
    public var user = "garage-pxe"
    /// Interface name, or "auto".
    public var interface = "auto"
    /// Server address given to clients; nil derives it from the interface.
    public var address: IPv4Address?
    public var httpPort: UInt16 = 80
    /// Address the HTTP server listens on; 0.0.0.0 is every interface.
    public var httpListenAddress = "0.0.0.0"
    /// `http.sendfile`: files go from the page cache to the socket with sendfile(2).
    public var httpSendfile = true
    public var tftpRoot = "/var/lib/garage-pxe/tftp"
    public var tftp = TFTP()
    public var menusDirectory = "/etc/garage-pxe/pxe-menus"
    public var imagesDirectory = "/var/lib/garage-pxe/images"
    /// `paths.state`: the daemon's own durable state (install once's install-once.json).
    public var stateDirectory = "/var/lib/garage-pxe"
    public var proxyDHCP = ProxyDHCP()
    public var bootfiles = Bootfiles()
    public var installer = Installer()
    /// `install_once`: an installed machine's network boot defaults to its local disk.
    public var installOnce = InstallOncePolicy()
    public var limits = Limits()

    public init() {}
}

/// Values given on the command line; each wins over the file.
public struct ConfigOverrides: Sendable, Equatable {
    public var interface: String?
    public var address: String?
    public var httpPort: Int?
    public var tftpRoot: String?
    public var menusDirectory: String?
    public var imagesDirectory: String?
    public var stateDirectory: String?
    public var user: String?

    public init(interface: String? = nil, address: String? = nil, httpPort: Int? = nil, tftpRoot: String? = nil,
                menusDirectory: String? = nil, imagesDirectory: String? = nil, user: String? = nil,
                stateDirectory: String? = nil) {
        self.stateDirectory = stateDirectory
        self.user = user
        self.interface = interface
        self.address = address
        self.httpPort = httpPort
        self.tftpRoot = tftpRoot
        self.menusDirectory = menusDirectory
        self.imagesDirectory = imagesDirectory
    }
}

extension GaragePXEConfig {
    public static let systemPath = "/etc/garage-pxe/garage-pxe.yaml"

    /// `/etc/garage-pxe/garage-pxe.yaml` when installed, else the repository's
    /// `config/garage-pxe.yaml` (found from the working directory or next to the binary
    /// in `.build/<config>/`), so a checkout runs without installing anything.
    public static func defaultPath(fileManager: FileManager = .default) -> String {
        if fileManager.fileExists(atPath: systemPath) { return systemPath }
        var candidates = [fileManager.currentDirectoryPath + "/config/garage-pxe.yaml"]
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("config/garage-pxe.yaml").path)
        }
        return candidates.first(where: fileManager.fileExists(atPath:)) ?? systemPath
    }

    /// Reads and validates `path`, then applies `overrides`. Relative paths in the file are
    /// taken relative to the file's folder; relative paths on the command line relative to
    /// the working directory.
    public static func load(path: String, overrides: ConfigOverrides = ConfigOverrides()) throws(SourceDiagnostics) -> GaragePXEConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SourceDiagnostics([SourceDiagnostic(file: path, line: 1, column: 1, message: "cannot read the configuration: \(error.localizedDescription)")])
        }
        return try parse(text, file: path, overrides: overrides)
    }

    public static func parse(_ text: String, file: String, overrides: ConfigOverrides = ConfigOverrides()) throws(SourceDiagnostics) -> GaragePXEConfig {
        let sink = YAMLDiagnosticSink(file: file)
        var config = GaragePXEConfig()
        config.sourceFile = file
        // Made absolute first: a relative file's folder would otherwise standardize
        // "../x" against the filesystem root.
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        let base = URL(fileURLWithPath: absolute).deletingLastPathComponent()
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardized.path
        }

        if let root = sink.compose(text) {
            if let top = YAMLMappingReader(root, path: "", sink: sink) {
                read(top, into: &config, resolve: resolve)
                top.finish()
            }
        } else if sink.diagnostics.isEmpty {
            // An empty file is a valid file that sets nothing.
        }
        apply(overrides, to: &config, sink: sink)
        if !sink.diagnostics.isEmpty { throw SourceDiagnostics(sink.diagnostics) }
        return config
    }

    private static func read(_ top: YAMLMappingReader, into c: inout GaragePXEConfig, resolve: (String) -> String) {
        let sink = top.sink
        if let v = top.string("site") { c.site = v }
        if let v = top.string("user") { c.user = v }
        if let network = top.mapping("network") {
            if let v = network.string("interface") { c.interface = v }
            if let v = network.string("address") {
                if v == "auto" {
                    c.address = nil
                } else if let ip = IPv4Address(v) {
                    c.address = ip
                } else {
                    sink.error("'network.address' must be an IPv4 address such as 192.168.1.10 or auto, found '\(v)'", at: network.markOf("address"))
                }
            }
            network.finish()
        }
        if let http = top.mapping("http") {
            if let v = http.int("port", in: 1...65535) { c.httpPort = UInt16(v) }
            if let v = http.string("listen") {
                if v == "0.0.0.0" || IPv4Address(v) != nil { c.httpListenAddress = v } else {
                    sink.error("'http.listen' must be an IPv4 address such as 0.0.0.0 or 127.0.0.1, found '\(v)'", at: http.markOf("listen"))
                }
            }
            if let v = http.bool("sendfile") { c.httpSendfile = v }
            http.finish()
        }
        if let tftp = top.mapping("tftp") {
            if let v = tftp.string("root") { c.tftpRoot = resolve(v) }
            if let v = tftp.int("port", in: 1...65535) { c.tftp.port = UInt16(v) }
            if let v = tftp.stringList("trusted_link_targets") { c.tftp.trustedLinkTargets = v.map { resolve($0.value) } }
            if let v = tftp.int("timeout_ms", in: 20...60000) { c.tftp.timeoutMilliseconds = v }
            if let v = tftp.int("retries", in: 1...100) { c.tftp.retries = v }
            if let rules = readOptionRefusals(tftp) { c.tftp.refuseOptions = rules }
            if let v = tftp.int("transfer_threads", in: 1...64) { c.tftp.transferThreads = v }
            tftp.finish()
        }
        if let paths = top.mapping("paths") {
            if let v = paths.string("menus") { c.menusDirectory = resolve(v) }
            if let v = paths.string("images") { c.imagesDirectory = resolve(v) }
            if let v = paths.string("state") { c.stateDirectory = resolve(v) }
            paths.finish()
        }
        if let b = top.mapping("bootfiles") {
            if let v = b.string("bios") { c.bootfiles.bios = v }
            if let v = b.string("efi") { c.bootfiles.efi = v }
            if let v = b.string("efi_ipxe") { c.bootfiles.efiIPXE = v }
            if let v = b.string("efi_snponly") { c.bootfiles.efiSNPOnly = v }
            if let v = b.string("signed_chain_image") {
                if ImageCatalogue.isValidName(v) { c.bootfiles.signedChainImage = v } else {
                    sink.error("'bootfiles.signed_chain_image' '\(v)' is not an image folder name (letters, digits, '-', '_', '.')", at: b.markOf("signed_chain_image"))
                }
            }
            if let v = b.optionalString("arm64") { c.bootfiles.arm64 = v }
            b.finish()
        }
        if let p = top.mapping("proxy_dhcp") {
            if let v = p.bool("answer_on_port_67") { c.proxyDHCP.answerOnDHCPPort = v }
            if let v = p.bool("answer_on_port_4011") { c.proxyDHCP.answerOnPXEPort = v }
            if let dc = p.mapping("discovery_control") {
                if let v = dc.optionalInt("bios", in: 0...15) { c.proxyDHCP.biosDiscoveryControl = v.map(UInt8.init) }
                if let v = dc.optionalInt("efi", in: 0...15) { c.proxyDHCP.efiDiscoveryControl = v.map(UInt8.init) }
                dc.finish()
            }
            if let s = p.mapping("uefi_ipxe") {
                let (macs, vendors) = readMachineList(s, key: "proxy_dhcp.uefi_ipxe")
                if let macs { c.proxyDHCP.uefiIPXEMACs = macs }
                if let vendors { c.proxyDHCP.uefiIPXEVendorPrefixes = vendors }
            }
            if let s = p.mapping("snponly") {
                let (macs, vendors) = readMachineList(s, key: "proxy_dhcp.snponly")
                if let macs { c.proxyDHCP.snponlyMACs = macs }
                if let vendors { c.proxyDHCP.snponlyVendorPrefixes = vendors }
            }
            if let classes = p.stringList("ipxe_user_classes") { c.proxyDHCP.ipxeUserClasses = classes.map(\.value) }
            p.finish()
        }
        if let i = top.mapping("installer") {
            if let v = i.string("mirror") {
                if isHTTPURL(v) { c.installer.mirror = v } else {
                    sink.error("'installer.mirror' must be an http:// or https:// URL such as \(ServerSettings.defaultMirrorURL), found '\(v)'", at: i.markOf("mirror"))
                }
            }
            if let v = i.optionalString("proxy") {
                switch v {
                case nil: c.installer.proxy = .none
                case "auto"?: c.installer.proxy = .auto
                case let url? where isHTTPURL(url): c.installer.proxy = .url(url)
                case let other?:
                    sink.error("'installer.proxy' must be auto, none or an http:// URL, found '\(other)'", at: i.markOf("proxy"))
                }
            }
            if let v = i.int("syslog_port", in: 1...65535) { c.installer.syslogPort = v }
            if let v = i.int("stall_seconds", in: 1...86_400) { c.installer.stallSeconds = v }
            i.finish()
        }
        if let o = top.mapping("install_once") {
            if let v = o.bool("enabled") { c.installOnce.enabled = v }
            if let v = o.string("entry") { c.installOnce.entry = v == "auto" ? nil : v }
            o.finish()
        }
        if let l = top.mapping("limits") {
            if let v = l.int("max_tftp_transfers", in: 1...10000) { c.limits.maxTFTPTransfers = v }
            if let v = l.int("max_tftp_transfers_per_client", in: 1...10000) { c.limits.maxTFTPTransfersPerClient = v }
            if let v = l.int("tftp_silent_transfer_seconds", in: TFTPRetransmitPolicy.silenceSecondsRange) {
                c.limits.tftpSilentTransferSeconds = v
            }
            if let v = l.int("tftp_max_blksize", in: 512...65464) { c.limits.tftpMaxBlockSize = v }
            if let v = l.int("tftp_max_windowsize", in: 1...256) { c.limits.tftpMaxWindowSize = v }
            if let v = l.int("receive_buffer_kib", in: 64...65536) { c.limits.receiveBufferKiB = v }
            if let v = l.int("stop_grace_seconds", in: 0...600) { c.limits.stopGraceSeconds = v }
            // The upper bounds keep the descriptors they need under the unit's LimitNOFILE=.
            if let v = l.int("max_http_connections", in: 16...2048) { c.limits.maxHTTPConnections = v }
            if let v = l.int("max_http_connections_per_client", in: 1...2048) { c.limits.maxHTTPConnectionsPerClient = v }
            if let v = l.int("http_request_seconds", in: 1...600) { c.limits.httpRequestSeconds = v }
            if let v = l.int("http_min_send_bytes_per_second", in: 0...(1 << 30)) { c.limits.httpMinSendBytesPerSecond = v }
            if let v = l.int("max_event_streams", in: 1...1000) { c.limits.maxEventStreams = v }
            if let v = l.int("startup_read_events", in: 1...10_000_000) { c.limits.startupReadEvents = v }
            // Three reads, each bounded: all under the unit's start timeout (90 s).
            if let v = l.int("startup_read_seconds", in: 1...25) { c.limits.startupReadSeconds = v }
            l.finish()
        }
    }

    /// `tftp.refuse_options`: a list of {mac | vendor, options}.
    /// `macs` and `vendors` of a machine list (proxy_dhcp.snponly, proxy_dhcp.uefi_ipxe):
    /// nil for a list not given; each bad item an error at its position.
    private static func readMachineList(_ list: YAMLMappingReader, key: String) -> (macs: [MACAddress]?, vendors: [[UInt8]]?) {
        let sink = list.sink
        let macs = list.stringList("macs").map { items in
            items.compactMap { item -> MACAddress? in
                if let m = MACAddress(item.value) { return m }
                sink.error("'\(key).macs' item '\(item.value)' is not a MAC address such as 52:54:00:12:34:56", at: item.mark)
                return nil
            }
        }
        let vendors = list.stringList("vendors").map { items in
            items.compactMap { item -> [UInt8]? in
                if let oui = MACAddress.prefix(item.value, octets: 3...3) { return oui }
                sink.error("'\(key).vendors' item '\(item.value)' is not a MAC prefix of three octets such as 00:e0:4c", at: item.mark)
                return nil
            }
        }
        list.finish()
        return (macs, vendors)
    }

    private static func readOptionRefusals(_ tftp: YAMLMappingReader) -> [TFTPOptionRefusal]? {
        let key = "refuse_options"
        guard let node = tftp.node(key), node.scalar.map({ !["", "~", "null"].contains($0.string) }) ?? true else { return nil }
        let sink = tftp.sink
        guard case .sequence(let items) = node else {
            sink.error("'\(tftp.qualified(key))' must be a list, found \(describe(node))", at: node.mark)
            return nil
        }
        let optionNames = TFTPOption.allCases.map(\.rawValue).joined(separator: ", ")
        var rules: [TFTPOptionRefusal] = []
        for (index, item) in items.enumerated() {
            guard let rule = YAMLMappingReader(item, path: "\(tftp.qualified(key))[\(index)]", sink: sink) else { continue }
            var client: TFTPOptionRefusal.Client?
            let mac = rule.string("mac")
            let vendor = rule.string("vendor")
            if let mac {
                if let m = MACAddress(mac) { client = .mac(m) } else {
                    sink.error("'\(rule.qualified("mac"))' must be a MAC address such as 52:54:00:12:34:56, found '\(mac)'", at: rule.markOf("mac"))
                }
            }
            if let vendor {
                if let oui = MACAddress.prefix(vendor, octets: 3...3) { client = .vendor(oui) } else {
                    sink.error("'\(rule.qualified("vendor"))' must be a MAC prefix of three octets such as 00:e0:4c, found '\(vendor)'", at: rule.markOf("vendor"))
                }
            }
            if mac != nil && vendor != nil {
                sink.error("'\(rule.path)' must name either a mac or a vendor, not both", at: rule.mark)
            } else if mac == nil && vendor == nil {
                sink.error("'\(rule.path)' must name a mac or a vendor", at: rule.mark)
            }
            var options: Set<TFTPOption> = []
            if let names = rule.stringList("options") {
                for name in names {
                    if let option = TFTPOption(rawValue: name.value.lowercased()) { options.insert(option) } else {
                        sink.error("'\(rule.qualified("options"))' item '\(name.value)' is not a TFTP option (expected one of: \(optionNames))", at: name.mark)
                    }
                }
            } else {
                sink.error("'\(rule.path)' must list the options to refuse (\(optionNames))", at: rule.mark)
            }
            rule.finish()
            if let client, mac == nil || vendor == nil { rules.append(TFTPOptionRefusal(client: client, options: options)) }
        }
        return rules
    }

    private static func apply(_ o: ConfigOverrides, to c: inout GaragePXEConfig, sink: YAMLDiagnosticSink) {
        let cwd = FileManager.default.currentDirectoryPath
        func resolve(_ p: String) -> String {
            p.hasPrefix("/") ? p : URL(fileURLWithPath: cwd).appendingPathComponent(p).standardized.path
        }
        func flagError(_ message: String) { sink.commandLineError(message) }
        if let v = o.interface { c.interface = v }
        if let v = o.user { c.user = v }
        if let v = o.address {
            if v == "auto" { c.address = nil } else if let ip = IPv4Address(v) { c.address = ip } else {
                flagError("--address must be an IPv4 address or auto, found '\(v)'")
            }
        }
        if let v = o.httpPort {
            if (1...65535).contains(v) { c.httpPort = UInt16(v) } else { flagError("--http-port must be between 1 and 65535, found \(v)") }
        }
        if let v = o.tftpRoot { c.tftpRoot = resolve(v) }
        if let v = o.menusDirectory { c.menusDirectory = resolve(v) }
        if let v = o.imagesDirectory { c.imagesDirectory = resolve(v) }
        if let v = o.stateDirectory { c.stateDirectory = resolve(v) }
    }

    /// Problems that depend on this machine rather than on the file's syntax: missing
    /// folders and boot files; and, as warnings, settings that PCs' firmware may not bear.
    /// `check` reports them; `serve` logs the warnings and refuses to start on errors.
    public func environmentProblems(fileManager: FileManager = .default) -> (errors: [String], warnings: [String]) {
        var errors: [String] = []
        var warnings: [String] = []
        var isDirectory: ObjCBool = false
        if !fileManager.fileExists(atPath: tftpRoot, isDirectory: &isDirectory) || !isDirectory.boolValue {
            errors.append("TFTP root \(tftpRoot) is not a folder (install the 'ipxe' package or set tftp.root)")
        } else {
            let efi = bootfiles.usesSignedChain ? ("efi_ipxe", bootfiles.efiIPXE) : ("efi", bootfiles.efi)
            for (key, name) in [("bios", bootfiles.bios), efi, ("efi_snponly", bootfiles.efiSNPOnly)] + (bootfiles.arm64.map { [("arm64", $0)] } ?? []) {
                if !fileManager.fileExists(atPath: tftpRoot + "/" + name) {
                    errors.append("boot file bootfiles.\(key) '\(name)' is not in the TFTP root \(tftpRoot)")
                } else if let jail = PathJail(root: tftpRoot, trustedLinkTargets: tftp.trustedLinkTargets),
                          case .success(let relative) = TFTPName.relativePath(Array(name.utf8)),
                          case .failure(let refusal) = jail.resolve(relative).mapError(TFTPRefusal.init) {
                    // The TFTP server would refuse it: say so now rather than at the first PC.
                    let target = (try? fileManager.destinationOfSymbolicLink(atPath: tftpRoot + "/" + name)).map { " (a link to \($0))" } ?? ""
                    errors.append("boot file bootfiles.\(key) '\(name)'\(target) would be refused over TFTP: \(refusal.message); add its folder to tftp.trusted_link_targets")
                }
            }
        }
        if bootfiles.usesSignedChain {
            // A warning, not an error: BIOS PCs and iPXE still work, and `make serve`
            // imports the image after the first check.
            let folder = imagesDirectory + "/" + bootfiles.signedChainImage
            let missing = [DebianImport.shimName, DebianImport.grubName].filter { !fileManager.fileExists(atPath: folder + "/" + $0) }
            if !missing.isEmpty {
                warnings.append("bootfiles.efi is signed but \(folder) has no \(missing.joined(separator: " or ")): UEFI PCs cannot boot until a Debian 13 netboot image is imported there (garage-pxe import debian …), or set bootfiles.efi: snponly.efi")
            }
        }
        if let advice = ipxeExitAdvice { warnings.append(advice) }
        if !fileManager.fileExists(atPath: menusDirectory) { warnings.append("menus folder \(menusDirectory) does not exist yet") }
        if !fileManager.fileExists(atPath: imagesDirectory) { warnings.append("images folder \(imagesDirectory) does not exist yet") }
        if interface != "auto" && NetworkInterface.named(interface) == nil {
            warnings.append("interface '\(interface)' does not exist on this machine")
        }
        return (errors, warnings)
    }

    /// Install once sends an installed UEFI PC's iPXE to the disk with `exit`, back to the
    /// firmware's next boot option: Debian 12's ipxe.efi never returned from it under OVMF
    /// (the PC stays on the network boot until someone touches it), snponly.efi did at once.
    /// Said when x64 UEFI PCs get ipxe.efi: `efi` names it, or PCs are listed for iPXE.
    var ipxeExitAdvice: String? {
        let key = bootfiles.usesSignedChain ? "efi_ipxe" : "efi"
        let listed = !proxyDHCP.uefiIPXEMACs.isEmpty || !proxyDHCP.uefiIPXEVendorPrefixes.isEmpty
        guard installOnce.enabled, !bootfiles.usesSignedChain || listed,
              bootfiles.efiIPXELoader.split(separator: "/").last == "ipxe.efi" else { return nil }
        return "bootfiles.\(key) is ipxe.efi and install_once is on: on some UEFI firmware (OVMF) its local-disk entry's exit never returns, so an installed PC waits on the network boot instead of starting its disk; snponly.efi returns (set bootfiles.\(key): snponly.efi)"
    }

    /// The interface to serve and the address to announce, resolved against this machine.
    public func resolveNetwork() throws(ConfigRuntimeError) -> (interface: NetworkInterface, address: IPv4Address) {
        let nic: NetworkInterface
        if interface == "auto" {
            guard let found = NetworkInterface.automatic() else {
                throw ConfigRuntimeError("interface is auto but no interface is up with an IPv4 address; set network.interface")
            }
            nic = found
        } else {
            guard let found = NetworkInterface.named(interface) else {
                throw ConfigRuntimeError("interface '\(interface)' does not exist (available: \(NetworkInterface.all().map(\.name).joined(separator: ", ")))")
            }
            nic = found
        }
        if let address { return (nic, address) }
        guard let a = nic.address else {
            throw ConfigRuntimeError("interface '\(nic.name)' has no IPv4 address; set network.address")
        }
        return (nic, a)
    }

    /// The TFTP server's settings for this config.
    public var tftpServerSettings: TFTPServerSettings {
        TFTPServerSettings(
            root: tftpRoot, trustedLinkTargets: tftp.trustedLinkTargets, maxTransfers: limits.maxTFTPTransfers,
            maxTransfersPerClient: limits.maxTFTPTransfersPerClient,
            maxBlockSize: limits.tftpMaxBlockSize, maxWindowSize: limits.tftpMaxWindowSize,
            retransmit: TFTPRetransmitPolicy(ceiling: .milliseconds(tftp.timeoutMilliseconds), maxRetries: tftp.retries,
                                             silenceLimit: .seconds(limits.tftpSilentTransferSeconds)),
            optionRefusals: tftp.refuseOptions)
    }

    /// The proxy policy's settings for this config and the resolved address.
    /// `http://ADDRESS[:PORT]`: where clients reach the HTTP side.
    public func httpBaseURL(serverAddress: IPv4Address) -> String {
        httpPort == 80 ? "http://\(serverAddress)" : "http://\(serverAddress):\(httpPort)"
    }

    public func proxySettings(serverAddress: IPv4Address) -> ProxySettings {
        let httpBase = httpBaseURL(serverAddress: serverAddress)
        var settings = ProxySettings(
            serverAddress: serverAddress, httpBaseURL: httpBase,
            biosBootfile: bootfiles.bios, efiBootfile: bootfiles.efiIPXELoader, efiSNPOnlyBootfile: bootfiles.efiSNPOnly,
            arm64Bootfile: bootfiles.arm64,
            biosDiscoveryControl: proxyDHCP.biosDiscoveryControl, efiDiscoveryControl: proxyDHCP.efiDiscoveryControl,
            snponlyMACs: Set(proxyDHCP.snponlyMACs), snponlyVendorPrefixes: proxyDHCP.snponlyVendorPrefixes,
            ipxeUserClasses: proxyDHCP.ipxeUserClasses)
        settings.efiSignedChain = bootfiles.usesSignedChain
        settings.efiIPXEMACs = Set(proxyDHCP.uefiIPXEMACs)
        settings.efiIPXEVendorPrefixes = proxyDHCP.uefiIPXEVendorPrefixes
        return settings
    }
}

public struct ConfigRuntimeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

func isHTTPURL(_ s: String) -> Bool {
    (s.hasPrefix("http://") || s.hasPrefix("https://")) && s.count > 8 && !s.contains(where: \.isWhitespace)
}

