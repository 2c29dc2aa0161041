// The values templates see. Every key is always present (empty text when unknown), so the
// set of names a template may use does not depend on the machine: the checker builds one
// sample context with these same functions and rejects any name it does not contain.

import Mustache

/// What the server tells templates about itself; filled from the daemon's configuration.
public struct ServerSettings: Sendable, Equatable {
    /// `http://ADDRESS[:PORT]`, no trailing slash.
    public var baseURL: String
    /// The address clients reach this server at (log_host for the installer).
    public var address: String
    public var site: String
    /// UDP port of the installer-syslog receiver (log_port).
    public var syslogPort: Int
    /// Debian mirror URL, e.g. `defaultMirrorURL`.
    public var mirrorURL: String
    /// HTTP proxy for the installer's downloads; empty for none.
    public var proxyURL: String
    /// What an installed machine's menu defaults to (`install_once`).
    public var installOnce = InstallOncePolicy()

    /// The defaults of `installer.syslog_port` and `installer.mirror`, here once.
    public static let defaultSyslogPort = 514
    public static let defaultMirrorURL = "http://deb.debian.org/debian"

    public init(baseURL: String, address: String, site: String, syslogPort: Int = defaultSyslogPort,
                mirrorURL: String = defaultMirrorURL, proxyURL: String = "") {
        self.baseURL = baseURL
        self.address = address
        self.site = site
        self.syslogPort = syslogPort
        self.mirrorURL = mirrorURL
        self.proxyURL = proxyURL
    }

    /// This server's HTTP side as a GRUB device, `(http,ADDRESS[:PORT])`: GRUB names files
    /// by device and path, not by URL.
    var grubHTTPDevice: String {
        var host = Substring(baseURL)
        if let r = host.range(of: "://") { host = host[r.upperBound...] }
        while host.hasSuffix("/") { host = host.dropLast() }
        return "(http,\(host))"
    }

    /// Protocol, host[:port] and directory of the mirror, the three parts d-i asks for.
    var mirrorParts: (scheme: String, host: String, directory: String) {
        var rest = Substring(mirrorURL)
        var scheme = "http"
        if let r = rest.range(of: "://") {
            scheme = String(rest[..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        guard let slash = rest.firstIndex(of: "/") else { return (scheme, String(rest), "/") }
        var directory = String(rest[slash...])
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        return (scheme, String(rest[..<slash]), directory)
    }
}

/// The output a context is built for: iPXE scripts get ASCII display text; preseeds keep
/// UTF-8; GRUB configurations get ASCII text made safe inside single quotes.
enum TextStyle {
    case ipxe
    case utf8
    case grub

    func display(_ s: String) -> String {
        switch self {
        case .ipxe: ASCIIText.transliterate(s)
        case .utf8: s
        // GRUB's console font may lack accented letters; inside '…' nothing is expanded
        // and a quote is written '\'' (close, escaped quote, reopen).
        case .grub: ASCIIText.transliterate(s).replacingOccurrences(of: "'", with: "'\\''")
        }
    }
    /// Text a machine reported (DMI), in an iPXE script: `${` would be expanded by iPXE
    /// itself, and `;`, `&&`, `||` end or chain a command and `#` starts a comment (a
    /// serial of `X ; shell` would give that PC a shell): those characters, quotes and
    /// backslashes become '?'.
    func reported(_ s: String?) -> String {
        guard let s else { return "" }
        if self == .grub {
            // Reported text goes inside '…' in GRUB: letters, digits and plain punctuation only.
            let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:_+-/()")
            return String(ASCIIText.transliterate(s).map { plain.contains($0) ? $0 : "?" })
        }
        guard self == .ipxe else { return s }
        let meaningful: Set<Character> = [";", "&", "|", "#", "\"", "'", "\\", "`"]
        return String(display(s).map { meaningful.contains($0) ? "?" : $0 }).replacingOccurrences(of: "${", with: "$ {")
    }
}

/// Which context a template is rendered with.
public enum TemplateRole: String, Sendable, CaseIterable {
    /// /boot.ipxe without a MAC: the first script, before the machine is known.
    case bootstrap
    /// /boot.ipxe?mac=…: the menu.
    case menu
    /// /boot/ENTRY.ipxe: what one entry does.
    case entry
    /// /preseed/ENTRY.cfg: the Debian installer's answers.
    case preseed
    /// grub.cfg over TFTP, read by Debian's signed GRUB: identifies the machine (MAC, DMI)
    /// to the server and sources its menu.
    case grubBootstrap = "grub-bootstrap"
    /// /boot.grub?mac=…: the GRUB menu, same entries as the iPXE one minus those only iPXE can do.
    case grubMenu = "grub-menu"
    /// /boot/ENTRY.grub: what one entry does under GRUB.
    case grubEntry = "grub-entry"

    var style: TextStyle {
        switch self {
        case .preseed: .utf8
        case .grubBootstrap, .grubMenu, .grubEntry: .grub
        default: .ipxe
        }
    }

    var isBootstrap: Bool { self == .bootstrap || self == .grubBootstrap }
    var isMenu: Bool { self == .menu || self == .grubMenu }
}

/// An empty text value: renders as nothing and counts as false in a section, so
/// `{{#machine.serial}}…{{/machine.serial}}` shows only when the serial is known (plain
/// Mustache would treat "" as true).
struct EmptyText: MustacheCustomRenderable {
    var renderText: String { "" }
    var isNull: Bool { true }
}

/// Replaces empty strings by `EmptyText`, keeping every key.
func withEmptyTextFalse(_ values: [String: Any]) -> [String: Any] {
    values.mapValues { value in
        if let s = value as? String, s.isEmpty { return EmptyText() }
        return value
    }
}

enum TemplateContext {
    static func server(_ s: ServerSettings, style: TextStyle) -> [String: Any] {
        let mirror = s.mirrorParts
        return withEmptyTextFalse([
            "base_url": s.baseURL, "address": s.address, "site": style.display(s.site),
            "syslog_port": String(s.syslogPort), "mirror_url": s.mirrorURL, "mirror_protocol": mirror.scheme,
            "mirror_host": mirror.host, "mirror_directory": mirror.directory, "proxy_url": s.proxyURL,
            "has_proxy": !s.proxyURL.isEmpty, "grub_http": s.grubHTTPDevice,
        ])
    }

    static func machine(_ m: MachineIdentity, choice: MachineChoice, server: ServerSettings, style: TextStyle) -> [String: Any] {
        withEmptyTextFalse([
            "mac": m.mac.description, "mac_hyphen": m.mac.hyphenated, "mac_hex": m.mac.hex,
            "platform": m.platform.rawValue, "is_efi": m.platform == .efi, "is_bios": m.platform == .bios,
            "buildarch": m.buildArchitecture ?? "", "ip": m.ip ?? "", "uuid": m.uuid ?? "",
            "manufacturer": style.reported(m.manufacturer), "product": style.reported(m.product),
            "serial": style.reported(m.serial),
            "hostname": choice.hostname, "note": style.display(choice.override?.note ?? ""),
            "group": choice.group?.id ?? "", "is_known": choice.override != nil,
            "query": m.queryString,
            "menu_url": "\(server.baseURL)/boot.ipxe?\(m.queryString)",
            "grub_menu_path": "/boot.grub?\(m.queryString)",
            // Install once: the menu defaults to the local disk. Re-arming is an admin's
            // action (POST /rearm with the admin token), never a URL a PC or a page can fetch.
            "installed": choice.installed,
            "install_once_reason": style.display(choice.installOnceReason ?? ""),
        ])
    }

    /// `reportToken`: the secret this PC's reports must carry (see ReportToken in
    /// InstallJournal), set only when the request came from the PC itself; it rides in the
    /// preseed URL (kernel command line) and in the progress URLs (the preseed's late_command),
    /// or, for a diagnostic entry, as garage_pxe.token on the kernel command line.
    static func entry(_ e: MenuEntry, machine m: MachineIdentity, choice: MachineChoice, images: [String: BootImageFiles],
                      server: ServerSettings, style: TextStyle, reportToken: String? = nil) -> [String: Any] {
        let base = server.baseURL
        let image = e.image.flatMap { images[$0] }
        let imagePath = e.image.map { "/images/\(percentEncodeQueryValue($0))" } ?? ""
        let imageURL = e.image.map { _ in base + imagePath } ?? ""
        let macQuery = "mac=\(m.mac.description)" + (reportToken.map { "&token=\($0)" } ?? "")
        let kernelArguments = [e.kernelArguments, choice.extraKernelArguments].filter { !$0.isEmpty }.joined(separator: " ")
        return withEmptyTextFalse([
            "id": e.id, "label": style.display(e.label), "kind": e.kind.rawValue,
            "is_debian_installer": e.kind == .debianInstaller, "is_ipxe_script": e.kind == .ipxeScript,
            "is_local_disk": e.kind == .localDisk, "is_chain_url": e.kind == .chainURL, "is_ipxe_shell": e.kind == .ipxeShell,
            // The diagnostic environment's agent reads garage_pxe.mode: "diagnostic" (inventory
            // only) or "erase" (inventory, countdown, erase every disk and read it back).
            "is_diagnostic": e.kind.isDiagnostic, "erases_disks": e.kind == .diagnosticErase,
            "diagnostic_mode": e.kind == .diagnosticErase ? "erase" : e.kind == .diagnostic ? "diagnostic" : "",
            "countdown_seconds": String(e.countdownSeconds),
            "is_default": choice.defaultEntry?.id == e.id,
            "image": e.image ?? "",
            "kernel_url": image.map { "\(imageURL)/\($0.kernel)" } ?? "",
            "initrd_url": image.map { "\(imageURL)/\($0.initrd)" } ?? "",
            "kernel_file": image?.kernel ?? "", "initrd_file": image?.initrd ?? "",
            // Paths on this server's HTTP side, for GRUB's (http,…) device.
            "kernel_path": image.map { "\(imagePath)/\($0.kernel)" } ?? "",
            "initrd_path": image.map { "\(imagePath)/\($0.initrd)" } ?? "",
            "grub_script_path": "/boot/\(e.id).grub?\(m.queryString)",
            "kernel_args": kernelArguments,
            "has_preseed": e.preseedTemplate != nil,
            "preseed_url": e.preseedTemplate != nil ? "\(base)/preseed/\(e.id).cfg?\(macQuery)" : "",
            "has_postinstall": e.postinstallScript != nil,
            "postinstall_url": e.postinstallScript.map { "\(base)/postinstall/\(percentEncodeQueryValue($0))" } ?? "",
            "chain_url": e.chainURL ?? "",
            "script_url": "\(base)/boot/\(e.id).ipxe?\(m.queryString)",
            "progress_url": "\(base)/progress?\(macQuery)",
            "report_token": reportToken ?? "",
        ])
    }

    static func menu(_ menu: BootMenu, machine m: MachineIdentity, choice: MachineChoice, images: [String: BootImageFiles],
                     server: ServerSettings, style: TextStyle) -> [String: Any] {
        withEmptyTextFalse([
            "title": style.display(menu.title),
            "timeout_seconds": String(choice.timeoutSeconds), "timeout_ms": String(choice.timeoutSeconds * 1000),
            "has_timeout": choice.timeoutSeconds > 0,
            "default": choice.defaultEntry?.id ?? "",
            "entries": choice.entries.map { entry($0, machine: m, choice: choice, images: images, server: server, style: style) },
            "has_entries": !choice.entries.isEmpty,
        ])
    }
}
