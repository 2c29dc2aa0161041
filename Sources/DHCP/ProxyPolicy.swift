// The proxyDHCP decision: one request in, one reply or a reason to stay silent out.
// A pure function over values so that packets captured from real firmware can be fed in
// and the answers compared field by field, without sockets or clocks.

import NetworkAddresses

/// Which of our two listening ports a request arrived on.
public enum ProxyPort: UInt16, Sendable, CustomStringConvertible {
    /// :67, where a proxy answers broadcast DISCOVERs alongside the LAN's DHCP server.
    case dhcp = 67
    /// :4011, the PXE boot-server port: REQUEST/INFORM unicast from clients that already
    /// have an address (PXE spec §2.2.4; iPXE's ProxyDHCPREQUEST; EDK2's BINL request).
    case pxe = 4011
    public var description: String { "\(rawValue)" }
}

/// Client architecture types of RFC 4578 §2.1 and the IANA registry that we act on.
public enum ClientArchitecture: Sendable, Equatable, CustomStringConvertible {
    case biosX86            // 0
    case efiIA32            // 6
    case efiBC              // 7 (in practice x86-64 firmware)
    case efiX64             // 9
    case efiARM64           // 11
    case efiX64HTTP         // 16
    case other(UInt16)

    public init(code: UInt16) {
        switch code {
        case 0: self = .biosX86
        case 6: self = .efiIA32
        case 7: self = .efiBC
        case 9: self = .efiX64
        case 11: self = .efiARM64
        case 16: self = .efiX64HTTP
        default: self = .other(code)
        }
    }

    public var code: UInt16 {
        switch self {
        case .biosX86: 0
        case .efiIA32: 6
        case .efiBC: 7
        case .efiX64: 9
        case .efiARM64: 11
        case .efiX64HTTP: 16
        case .other(let c): c
        }
    }

    /// The name iPXE uses in `${platform}`, which the menus key on.
    public var platform: String {
        switch self {
        case .biosX86: "pcbios"
        case .other: "unknown"
        default: "efi"
        }
    }

    public var description: String {
        switch self {
        case .biosX86: "bios"
        case .efiIA32: "efi-ia32"
        case .efiBC: "efi-bc"
        case .efiX64: "efi-x64"
        case .efiARM64: "efi-arm64"
        case .efiX64HTTP: "efi-x64-http"
        case .other(let c): "arch-\(c)"
        }
    }
}

/// Everything the policy needs to know about this server and site.
public struct ProxySettings: Sendable, Equatable {
    /// The address clients reach us at: siaddr, option 54 and the TFTP server.
    public var serverAddress: IPv4Address
    /// Base of every HTTP URL handed out, e.g. `http://10.0.0.2:8080` (no trailing slash).
    public var httpBaseURL: String
    /// Path of the iPXE script that ends the chainload loop.
    public var ipxeScriptPath: String
    /// TFTP file names per firmware family.
    public var biosBootfile: String
    public var efiBootfile: String
    /// The SNP-only loader for NICs whose iPXE native driver misbehaves.
    public var efiSNPOnlyBootfile: String
    /// nil: arm64 clients are ignored (and logged) until an admin sets a loader.
    public var arm64Bootfile: String?
    /// Path under the HTTP base where TFTP-root loaders are also served, for UEFI HTTP boot.
    public var httpLoaderPrefix: String
    /// Option 43 sub-option 6 per family; nil sends no option 43, which sends PXE clients
    /// to :4011 for their boot file (what many UEFI stacks need).
    public var biosDiscoveryControl: UInt8?
    public var efiDiscoveryControl: UInt8?
    /// Machines and vendors (first three octets of the MAC) that get the SNP-only loader.
    public var snponlyMACs: Set<MACAddress>
    public var snponlyVendorPrefixes: [[UInt8]]
    /// User classes that mark a client as already running our iPXE, besides "iPXE".
    public var ipxeUserClasses: [String]
    /// UEFI x64 PCs get Debian's signed chain (`signedShimPath`: Microsoft-signed shim,
    /// which loads Debian's signed GRUB from the same folder) instead of `efiBootfile`: the
    /// firmware does not say whether Secure Boot is on, and this chain boots either way.
    public var efiSignedChain = false
    /// Machines and vendors that get iPXE (`efiBootfile`, or the SNP-only loader) even so.
    public var efiIPXEMACs: Set<MACAddress> = []
    public var efiIPXEVendorPrefixes: [[UInt8]] = []

    /// Where the signed shim is served over TFTP. Shim loads `grubx64.efi` from the folder
    /// it was loaded from, and Debian's GRUB reads `grub/grub.cfg` under its built-in
    /// prefix `/debian-installer/amd64`: the three paths must sit together, here.
    public static let signedChainFolder = "debian-installer/amd64"
    public static let signedShimPath = signedChainFolder + "/bootnetx64.efi"
    public static let signedGRUBPath = signedChainFolder + "/grubx64.efi"
    public static let signedGRUBConfigPath = signedChainFolder + "/grub/grub.cfg"

    /// Whether a boot file named in an offer starts the signed chain.
    public static func isSignedChainBootfile(_ bootfile: String) -> Bool {
        bootfile == signedShimPath || bootfile.hasSuffix("/" + signedShimPath)
    }

    /// The defaults, here once: the daemon's configuration (`bootfiles.*`,
    /// `proxy_dhcp.discovery_control.bios`, `proxy_dhcp.ipxe_user_classes`) starts from them.
    public static let defaultBIOSBootfile = "undionly.kpxe"
    /// snponly.efi drives the card through the firmware's own network driver and, on
    /// `exit`, returns to the firmware, which boots its next option (the disk, for install
    /// once); Debian 12's ipxe.efi never returned from `exit` under OVMF.
    public static let defaultEFIBootfile = "snponly.efi"
    public static let defaultEFISNPOnlyBootfile = "snponly.efi"
    public static let defaultBIOSDiscoveryControl: UInt8? = 8
    public static let defaultIPXEUserClasses = ["garage-pxe"]

    public init(
        serverAddress: IPv4Address, httpBaseURL: String, ipxeScriptPath: String = "/boot.ipxe",
        biosBootfile: String = defaultBIOSBootfile, efiBootfile: String = defaultEFIBootfile,
        efiSNPOnlyBootfile: String = defaultEFISNPOnlyBootfile, arm64Bootfile: String? = nil,
        httpLoaderPrefix: String = "/tftp/",
        biosDiscoveryControl: UInt8? = defaultBIOSDiscoveryControl, efiDiscoveryControl: UInt8? = nil,
        snponlyMACs: Set<MACAddress> = [], snponlyVendorPrefixes: [[UInt8]] = [],
        ipxeUserClasses: [String] = defaultIPXEUserClasses
    ) {
        self.serverAddress = serverAddress
        self.httpBaseURL = httpBaseURL
        self.ipxeScriptPath = ipxeScriptPath
        self.biosBootfile = biosBootfile
        self.efiBootfile = efiBootfile
        self.efiSNPOnlyBootfile = efiSNPOnlyBootfile
        self.arm64Bootfile = arm64Bootfile
        self.httpLoaderPrefix = httpLoaderPrefix
        self.biosDiscoveryControl = biosDiscoveryControl
        self.efiDiscoveryControl = efiDiscoveryControl
        self.snponlyMACs = snponlyMACs
        self.snponlyVendorPrefixes = snponlyVendorPrefixes
        self.ipxeUserClasses = ipxeUserClasses
    }
}

/// What the policy read from a request; reported with every decision.
public struct ProxyRequestSummary: Sendable, Equatable {
    public var port: ProxyPort
    public var mac: MACAddress?
    public var messageType: DHCPMessageType?
    public var xid: UInt32
    public var architecture: ClientArchitecture?
    public var vendorClass: String?
    public var userClasses: [String]
    public var uuid: String?
    /// The client is iPXE already (option 77 or 175), so it gets the HTTP script.
    public var isIPXE: Bool
}

/// Why a request got no answer. Each reason is a counter.
public enum ProxyIgnoreReason: Sendable, Equatable, CustomStringConvertible {
    case notABootRequest
    case notEthernet
    case noMessageType
    case notPXEClient(vendorClass: String?)
    case messageTypeNotAnsweredOnPort(DHCPMessageType, ProxyPort)
    case addressedToAnotherServer(IPv4Address)
    case unknownArchitecture(UInt16)
    case architectureNotConfigured(ClientArchitecture)

    public var description: String {
        switch self {
        case .notABootRequest: "not a BOOTREQUEST"
        case .notEthernet: "hardware type is not Ethernet"
        case .noMessageType: "no DHCP message type (plain BOOTP)"
        case .notPXEClient(let vc): "not a PXE client (vendor class \(vc.map { "\"\($0)\"" } ?? "absent"))"
        case .messageTypeNotAnsweredOnPort(let t, let p): "\(t) is not answered on :\(p)"
        case .addressedToAnotherServer(let ip): "addressed to server \(ip)"
        case .unknownArchitecture(let a): "unknown client architecture \(a)"
        case .architectureNotConfigured(let a): "no boot file configured for \(a)"
        }
    }

    /// Short stable key for counters.
    public var counterName: String {
        switch self {
        case .notABootRequest: "not-request"
        case .notEthernet: "not-ethernet"
        case .noMessageType: "no-message-type"
        case .notPXEClient: "not-pxe"
        case .messageTypeNotAnsweredOnPort: "other-message-type"
        case .addressedToAnotherServer: "other-server"
        case .unknownArchitecture: "unknown-arch"
        case .architectureNotConfigured: "arch-not-configured"
        }
    }
}

/// Where the reply goes, resolved to an address by the socket layer.
public enum ProxyReplyDestination: Sendable, Equatable {
    /// 255.255.255.255:68 out of the interface the request came in on.
    case broadcast
    /// The client has an address: unicast to it on :68.
    case client(IPv4Address)
    /// Relayed request: to the relay agent on :67.
    case relay(IPv4Address)
    /// Back to the source address and port of the request (:4011 exchanges).
    case sender
}

public enum ProxyDecision: Sendable, Equatable {
    case reply(DHCPPacket, destination: ProxyReplyDestination, bootfile: String, summary: ProxyRequestSummary)
    case ignore(ProxyIgnoreReason, summary: ProxyRequestSummary)

    public var summary: ProxyRequestSummary {
        switch self {
        case .reply(_, _, _, let s), .ignore(_, let s): s
        }
    }
}

public struct ProxyPolicy: Sendable {
    public var settings: ProxySettings

    public init(settings: ProxySettings) { self.settings = settings }

    public func decide(_ request: DHCPPacket, port: ProxyPort) -> ProxyDecision {
        let vendorClass = request.vendorClassIdentifier
        let userClasses = request.userClasses
        let isIPXE = userClasses.contains("iPXE")
            || userClasses.contains(where: settings.ipxeUserClasses.contains)
            || request.ipxeEncapsulatedOptions != nil
        var summary = ProxyRequestSummary(
            port: port, mac: request.clientMAC, messageType: request.messageType, xid: request.xid,
            architecture: Self.architecture(of: request).map(ClientArchitecture.init(code:)),
            vendorClass: vendorClass, userClasses: userClasses, uuid: request.clientUUID, isIPXE: isIPXE)

        guard request.op == BOOTPOperation.request.rawValue else { return .ignore(.notABootRequest, summary: summary) }
        guard let mac = summary.mac else { return .ignore(.notEthernet, summary: summary) }
        guard let type = summary.messageType else { return .ignore(.noMessageType, summary: summary) }
        let isHTTPClient = vendorClass?.hasPrefix("HTTPClient") ?? false
        guard let vendorClass, vendorClass.hasPrefix("PXEClient") || isHTTPClient else {
            return .ignore(.notPXEClient(vendorClass: vendorClass), summary: summary)
        }
        let replyType: DHCPMessageType
        switch (port, type) {
        case (.dhcp, .discover): replyType = .offer
        case (.pxe, .request), (.pxe, .inform): replyType = .ack
        default: return .ignore(.messageTypeNotAnsweredOnPort(type, port), summary: summary)
        }
        // A :4011 request naming another server belongs to another boot server on the LAN.
        if port == .pxe, let sid = request.serverIdentifier, sid != settings.serverAddress, !sid.isZero {
            return .ignore(.addressedToAnotherServer(sid), summary: summary)
        }

        // Clients that omit option 93 are legacy BIOS ROMs (PXE 2.0); dnsmasq assumes the same.
        let arch = summary.architecture ?? .biosX86
        summary.architecture = arch
        let bootfile: String
        let discoveryControl: UInt8?
        if isIPXE {
            bootfile = settings.httpBaseURL + settings.ipxeScriptPath
            discoveryControl = arch == .biosX86 ? settings.biosDiscoveryControl : settings.efiDiscoveryControl
        } else {
            switch arch {
            case .biosX86:
                bootfile = settings.biosBootfile
                discoveryControl = settings.biosDiscoveryControl
            case .efiIA32, .efiBC, .efiX64:
                // 32-bit UEFI has no signed x64 shim to run: iPXE, as before.
                let signed = arch != .efiIA32 && settings.efiSignedChain && !wantsIPXE(mac)
                bootfile = signed ? ProxySettings.signedShimPath : efiLoader(for: mac)
                discoveryControl = settings.efiDiscoveryControl
            case .efiARM64:
                guard let f = settings.arm64Bootfile else { return .ignore(.architectureNotConfigured(arch), summary: summary) }
                bootfile = f
                discoveryControl = settings.efiDiscoveryControl
            case .efiX64HTTP:
                // UEFI HTTP boot takes a full URL and does not follow redirects.
                // EDK2's HttpBootDxe keeps a proxy offer (yiaddr 0) only with option 60
                // "HTTPClient" and a URI; beside a LAN DHCP server that gives no DNS it
                // takes only an IP-address URI (HttpBootSelectDhcpOffer), which this is.
                // The signed chain sits at the same paths as over TFTP: shim fetches GRUB
                // from its own URL's folder, GRUB its grub.cfg under its prefix.
                bootfile = settings.efiSignedChain && !wantsIPXE(mac)
                    ? settings.httpBaseURL + "/" + ProxySettings.signedShimPath
                    : settings.httpBaseURL + settings.httpLoaderPrefix + efiLoader(for: mac)
                discoveryControl = nil
            case .other(let code):
                return .ignore(.unknownArchitecture(code), summary: summary)
            }
        }

        var options: [DHCPOption] = [
            DHCPOption(.messageType, [replyType.rawValue]),
            DHCPOption(.serverIdentifier, settings.serverAddress.bytes),
            // Clients count an offer as proxy only when option 60 says PXEClient.
            DHCPOption(.vendorClassIdentifier, Array((isHTTPClient ? "HTTPClient" : "PXEClient").utf8)),
        ]
        // Echoed up to its RFC 4578 size (type + 16 bytes; some firmware sends it empty): a
        // client could otherwise have us broadcast kilobytes of its own junk, in a reply
        // too big for one frame.
        if let guid = request.clientMachineIdentifier, guid.count <= 17 {
            options.append(DHCPOption(.clientMachineIdentifier, guid))
        }
        var pxe = PXEVendorOptions(discoveryControl: discoveryControl)
        // A boot-server request names the boot item it wants; the reply must name the same
        // one or PXE 2.1 clients discard it.
        if port == .pxe, let item = request.pxeVendorOptions?.bootItem {
            pxe.bootItem = item
        }
        if pxe.discoveryControl != nil || pxe.bootItem != nil {
            options.append(DHCPOption(.vendorSpecific, pxe.serialize()))
        }
        let bootfileBytes = Array(bootfile.utf8)
        // The `file` field holds 127 bytes plus its NUL; longer names (URLs) go in option 67.
        let fileField = bootfileBytes.count <= 127 ? bootfile : ""
        if fileField.isEmpty { options.append(DHCPOption(.bootfileName, bootfileBytes)) }

        var reply = DHCPPacket(
            op: .reply, htype: request.htype, hlen: request.hlen, xid: request.xid, flags: request.flags,
            ciaddr: replyType == .ack ? request.ciaddr : .zero,
            yiaddr: .zero, siaddr: settings.serverAddress, giaddr: request.giaddr,
            chaddr: request.chaddr, sname: settings.serverAddress.description, file: fileField, options: options)
        reply.padToMinimumLength()

        let destination: ProxyReplyDestination
        if port == .pxe {
            destination = .sender
        } else if !request.giaddr.isZero {
            destination = .relay(request.giaddr)
        } else if !request.ciaddr.isZero {
            destination = .client(request.ciaddr)
        } else {
            destination = .broadcast
        }
        return .reply(reply, destination: destination, bootfile: bootfile, summary: summary)
    }

    private func wantsIPXE(_ mac: MACAddress) -> Bool {
        settings.efiIPXEMACs.contains(mac) || settings.efiIPXEVendorPrefixes.contains(mac.oui)
    }

    private func efiLoader(for mac: MACAddress) -> String {
        if settings.snponlyMACs.contains(mac) || settings.snponlyVendorPrefixes.contains(mac.oui) {
            return settings.efiSNPOnlyBootfile
        }
        return settings.efiBootfile
    }

    /// Option 93's first entry, or the `Arch:NNNNN` field of a PXE vendor class.
    static func architecture(of request: DHCPPacket) -> UInt16? {
        if let first = request.clientArchitectures?.first { return first }
        guard let vc = request.vendorClassIdentifier else { return nil }
        let fields = vc.split(separator: ":")
        if let i = fields.firstIndex(of: "Arch"), i + 1 < fields.count { return UInt16(fields[i + 1]) }
        return nil
    }
}
