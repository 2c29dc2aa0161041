// What SIGHUP does with each key of the configuration, computed from the configuration
// itself: every stored property of GaragePXEConfig has one row in `reloadKeys` (a unit
// test walks the struct with Mirror, `storedProperties`, and fails on a property without a
// row), and a reload compares the running and the new configuration row by row. The same
// walk runs at each reload too: a changed property no row covers keeps the whole running
// configuration (the reload is refused, naming it) rather than being taken unclassified. A changed key is either
// taken by the running daemon or named in the log as waiting for a restart, its running
// value kept, so nothing handed to clients names a socket nobody listens on.

/// What a reload does with a changed key.
public enum ReloadEffect: String, Sendable, Equatable {
    /// The running daemon takes the new value.
    case live
    /// The running value stays until a restart (a socket bound at start, privileges already
    /// dropped, a server configured once); the log names the key.
    case restart
    /// Not a key of the file (where the configuration was read from): never compared.
    case notAKey = "not a key"
}

/// One key of the file and the property that holds it.
public struct ConfigKey {
    /// As written in the YAML file, e.g. `network.interface`.
    public let name: String
    public let effect: ReloadEffect
    /// The property, for the test that proves every property has a row.
    public let property: PartialKeyPath<GaragePXEConfig>
    /// `\GaragePXEConfig.tftp.port` -> `tftp.port`, as `storedProperties` names it.
    public var propertyPath: String {
        String(String(describing: property).drop { $0 != "." }.dropFirst())
    }
    let differs: (GaragePXEConfig, GaragePXEConfig) -> Bool
    /// Copies the running value into the new configuration.
    let keep: (inout GaragePXEConfig, GaragePXEConfig) -> Void

    init<Value: Equatable>(_ name: String, _ effect: ReloadEffect, _ path: WritableKeyPath<GaragePXEConfig, Value>) {
        self.name = name
        self.effect = effect
        self.property = path
        self.differs = { $0[keyPath: path] != $1[keyPath: path] }
        self.keep = { $0[keyPath: path] = $1[keyPath: path] }
    }
}

/// A reload's outcome before anything is applied: the configuration to run with (restart
/// keys at their running values) and the changed keys by name.
public struct ReloadPlan {
    public var config: GaragePXEConfig
    public var applied: [String] = []
    public var needRestart: [String] = []
    /// Properties that changed and have no row in `reloadKeys` (none while the unit test
    /// holds): the daemon then refuses the reload.
    public var unclassified: [String] = []
}

extension GaragePXEConfig {
    /// Every stored property, by YAML key, with what a reload does when it changes.
    public static var reloadKeys: [ConfigKey] {
        [
            ConfigKey("(the file's path)", .notAKey, \.sourceFile),
            ConfigKey("site", .live, \.site),
            // Privileges are dropped once, at start.
            ConfigKey("user", .restart, \.user),
            ConfigKey("network.interface", .restart, \.interface),
            // The proxy's answers, the URLs and log_host in menus, the syslog receiver's address.
            ConfigKey("network.address", .live, \.address),
            ConfigKey("http.port", .restart, \.httpPort),
            ConfigKey("http.listen", .restart, \.httpListenAddress),
            ConfigKey("http.sendfile", .restart, \.httpSendfile),
            // The HTTP server's /tftp/ jail is set up once: the TFTP side keeps the same root.
            ConfigKey("tftp.root", .restart, \.tftpRoot),
            ConfigKey("tftp.port", .restart, \.tftp.port),
            ConfigKey("tftp.trusted_link_targets", .restart, \.tftp.trustedLinkTargets),
            ConfigKey("tftp.transfer_threads", .restart, \.tftp.transferThreads),
            ConfigKey("tftp.timeout_ms", .live, \.tftp.timeoutMilliseconds),
            ConfigKey("tftp.retries", .live, \.tftp.retries),
            ConfigKey("tftp.refuse_options", .live, \.tftp.refuseOptions),
            // The folder watch and the HTTP server's images folder are set up once.
            ConfigKey("paths.menus", .restart, \.menusDirectory),
            ConfigKey("paths.images", .restart, \.imagesDirectory),
            // The install-once store is opened once, at start.
            ConfigKey("paths.state", .restart, \.stateDirectory),
            ConfigKey("proxy_dhcp.answer_on_port_67", .restart, \.proxyDHCP.answerOnDHCPPort),
            ConfigKey("proxy_dhcp.answer_on_port_4011", .restart, \.proxyDHCP.answerOnPXEPort),
            ConfigKey("proxy_dhcp.discovery_control.bios", .live, \.proxyDHCP.biosDiscoveryControl),
            ConfigKey("proxy_dhcp.discovery_control.efi", .live, \.proxyDHCP.efiDiscoveryControl),
            ConfigKey("proxy_dhcp.snponly.macs", .live, \.proxyDHCP.snponlyMACs),
            ConfigKey("proxy_dhcp.snponly.vendors", .live, \.proxyDHCP.snponlyVendorPrefixes),
            ConfigKey("proxy_dhcp.uefi_ipxe.macs", .live, \.proxyDHCP.uefiIPXEMACs),
            ConfigKey("proxy_dhcp.uefi_ipxe.vendors", .live, \.proxyDHCP.uefiIPXEVendorPrefixes),
            ConfigKey("proxy_dhcp.ipxe_user_classes", .live, \.proxyDHCP.ipxeUserClasses),
            ConfigKey("bootfiles.bios", .live, \.bootfiles.bios),
            ConfigKey("bootfiles.efi", .live, \.bootfiles.efi),
            ConfigKey("bootfiles.efi_ipxe", .live, \.bootfiles.efiIPXE),
            ConfigKey("bootfiles.efi_snponly", .live, \.bootfiles.efiSNPOnly),
            ConfigKey("bootfiles.arm64", .live, \.bootfiles.arm64),
            // The TFTP side reads the signed chain's files from this image at each request.
            ConfigKey("bootfiles.signed_chain_image", .live, \.bootfiles.signedChainImage),
            ConfigKey("installer.mirror", .live, \.installer.mirror),
            ConfigKey("installer.proxy", .live, \.installer.proxy),
            // The receiver is bound to the new port; if that fails, the old port stays everywhere.
            ConfigKey("installer.syslog_port", .live, \.installer.syslogPort),
            // The recorder's stall watch measures silences against the new value at once.
            ConfigKey("installer.stall_seconds", .live, \.installer.stallSeconds),
            ConfigKey("install_once.enabled", .live, \.installOnce.enabled),
            ConfigKey("install_once.entry", .live, \.installOnce.entry),
            ConfigKey("limits.max_tftp_transfers", .live, \.limits.maxTFTPTransfers),
            ConfigKey("limits.max_tftp_transfers_per_client", .live, \.limits.maxTFTPTransfersPerClient),
            // Read when a transfer starts, like tftp.timeout_ms.
            ConfigKey("limits.tftp_silent_transfer_seconds", .live, \.limits.tftpSilentTransferSeconds),
            ConfigKey("limits.tftp_max_blksize", .live, \.limits.tftpMaxBlockSize),
            ConfigKey("limits.tftp_max_windowsize", .live, \.limits.tftpMaxWindowSize),
            // A socket option set when the DHCP and TFTP sockets are bound.
            ConfigKey("limits.receive_buffer_kib", .restart, \.limits.receiveBufferKiB),
            ConfigKey("limits.stop_grace_seconds", .live, \.limits.stopGraceSeconds),
            // The HTTP server's connection handling is set up once, when it starts.
            ConfigKey("limits.max_http_connections", .restart, \.limits.maxHTTPConnections),
            ConfigKey("limits.max_http_connections_per_client", .restart, \.limits.maxHTTPConnectionsPerClient),
            ConfigKey("limits.http_request_seconds", .restart, \.limits.httpRequestSeconds),
            ConfigKey("limits.http_min_send_bytes_per_second", .restart, \.limits.httpMinSendBytesPerSecond),
            ConfigKey("limits.max_event_streams", .restart, \.limits.maxEventStreams),
            // Read once, at start.
            ConfigKey("limits.startup_read_events", .restart, \.limits.startupReadEvents),
            ConfigKey("limits.startup_read_seconds", .restart, \.limits.startupReadSeconds),
        ]
    }

    /// Compares `running` with `loaded` key by key: live keys come from `loaded`, restart
    /// keys keep their running values.
    public static func reloadPlan(running: GaragePXEConfig, loaded: GaragePXEConfig) -> ReloadPlan {
        var plan = ReloadPlan(config: loaded)
        let classified = Set(reloadKeys.map(\.propertyPath))
        let before = Dictionary(uniqueKeysWithValues: storedProperties(of: running))
        plan.unclassified = storedProperties(of: loaded)
            .filter { !classified.contains($0.path) && before[$0.path] != $0.value }.map(\.path)
        for key in reloadKeys {
            switch key.effect {
            case .notAKey:
                key.keep(&plan.config, running)
            case .live where key.differs(running, loaded):
                plan.applied.append(key.name)
            case .restart where key.differs(running, loaded):
                key.keep(&plan.config, running)
                plan.needRestart.append(key.name)
            case .live, .restart:
                break
            }
        }
        return plan
    }

    /// Every stored property as a dotted path (`tftp.port`) with its value written out:
    /// nested structs (the file's sections) are walked, anything else is one property.
    public static func storedProperties(of value: Any, prefix: String = "") -> [(path: String, value: String)] {
        Mirror(reflecting: value).children.flatMap { child -> [(path: String, value: String)] in
            guard let label = child.label else { return [] }
            let path = prefix + label
            let nested = Mirror(reflecting: child.value)
            if nested.displayStyle == .struct, !nested.children.isEmpty, nested.children.allSatisfy({ $0.label != nil }) {
                return storedProperties(of: child.value, prefix: path + ".")
            }
            return [(path, String(reflecting: child.value))]
        }
    }

    /// The keys of one effect, for the README's reload section and its test.
    public static func reloadKeyNames(_ effect: ReloadEffect) -> [String] {
        reloadKeys.filter { $0.effect == effect }.map(\.name)
    }
}
