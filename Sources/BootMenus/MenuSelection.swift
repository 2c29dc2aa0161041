import Foundation
import NetworkAddresses

// Who is asking (from the query string iPXE sends) and what that machine gets: its
// group, the entries it may see on its firmware, its default entry, its hostname.

/// A machine as iPXE describes it. Every field is validated before it is stored, so a
/// value from a query string can go into a template or a log line as it is.
public struct MachineIdentity: Sendable, Equatable {
    public var mac: MACAddress
    public var platform: BootPlatform
    /// iPXE's `${buildarch}`: i386, x86_64, arm64…
    public var buildArchitecture: String?
    /// Dotted IPv4 address.
    public var ip: String?
    public var uuid: String?
    public var manufacturer: String?
    public var product: String?
    public var serial: String?
    /// Which loader asked: the route it asked on says so (/boot.ipxe or /boot.grub), never
    /// the query string.
    public var chain: BootChain = .ipxe

    public init(mac: MACAddress, platform: BootPlatform, buildArchitecture: String? = nil, ip: String? = nil,
                uuid: String? = nil, manufacturer: String? = nil, product: String? = nil, serial: String? = nil) {
        self.mac = mac
        self.platform = platform
        self.buildArchitecture = buildArchitecture
        self.ip = ip
        self.uuid = uuid
        self.manufacturer = manufacturer
        self.product = product
        self.serial = serial
    }
}

/// Why a query string was refused; the message names the parameter, never echoes junk.
public struct MachineQueryError: Error, Equatable, Sendable, CustomStringConvertible {
    public var parameter: String
    public var expected: String
    public var description: String { "query parameter '\(parameter)' must be \(expected)" }
}

extension MachineIdentity {
    /// Reads `mac`, `platform`, `buildarch`, `ip`, `uuid`, `manufacturer`, `product`,
    /// `serial` (already percent-decoded). Unknown parameters are ignored; an empty value
    /// counts as absent (iPXE sends `serial=` when the DMI field is empty).
    public init(query: [String: String], defaultPlatform: BootPlatform = .bios) throws(MachineQueryError) {
        func value(_ key: String) -> String? {
            guard let v = query[key], !v.isEmpty else { return nil }
            return v
        }
        guard let macText = value("mac") else { throw MachineQueryError(parameter: "mac", expected: "a MAC address such as 52:54:00:12:34:56") }
        guard let mac = MACAddress(macText) else { throw MachineQueryError(parameter: "mac", expected: "a MAC address such as 52:54:00:12:34:56") }
        var platform = defaultPlatform
        if let p = value("platform") {
            guard let parsed = BootPlatform(name: p) else { throw MachineQueryError(parameter: "platform", expected: "pcbios or efi") }
            platform = parsed
        }
        let buildarch = value("buildarch")
        if let buildarch, !(buildarch.count <= 16 && buildarch.unicodeScalars.allSatisfy({ ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" })) {
            throw MachineQueryError(parameter: "buildarch", expected: "an iPXE build architecture such as x86_64")
        }
        let ip = value("ip")
        if let ip, !isDottedIPv4(ip) { throw MachineQueryError(parameter: "ip", expected: "an IPv4 address") }
        let uuid = value("uuid")
        if let uuid, !isUUID(uuid) { throw MachineQueryError(parameter: "uuid", expected: "a UUID such as 4c4c4544-0037-3010-8052-b4c04f4b4d32") }
        var dmi: [String: String] = [:]
        for key in ["manufacturer", "product", "serial"] {
            guard let v = value(key) else { continue }
            guard let clean = cleanDMIText(v) else { throw MachineQueryError(parameter: key, expected: "printable text of at most 64 characters") }
            if !clean.isEmpty { dmi[key] = clean }
        }
        self.init(mac: mac, platform: platform, buildArchitecture: buildarch, ip: ip, uuid: uuid?.lowercased(),
                  manufacturer: dmi["manufacturer"], product: dmi["product"], serial: dmi["serial"])
    }

    /// The identity as a query string, in a fixed order (scripts pass it along from one
    /// request to the next).
    public var queryString: String {
        var pairs: [(String, String)] = [("mac", mac.description), ("platform", platform.rawValue)]
        if let buildArchitecture { pairs.append(("buildarch", buildArchitecture)) }
        if let ip { pairs.append(("ip", ip)) }
        if let uuid { pairs.append(("uuid", uuid)) }
        if let manufacturer { pairs.append(("manufacturer", manufacturer)) }
        if let product { pairs.append(("product", product)) }
        if let serial { pairs.append(("serial", serial)) }
        return pairs.map { "\($0.0)=\(percentEncodeQueryValue($0.1))" }.joined(separator: "&")
    }
}

func isDottedIPv4(_ s: String) -> Bool {
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { p in
        (1...3).contains(p.count) && p.allSatisfy { $0.isASCII && $0.isNumber } && Int(p)! <= 255
    }
}

func isUUID(_ s: String) -> Bool {
    let groups = s.split(separator: "-", omittingEmptySubsequences: false)
    return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy { $0.isHexDigit && $0.isASCII } }
}

/// DMI strings are vendor-written: keep printable ASCII and Latin letters, trim, cap the
/// length. nil when the text carries control characters (no log injection).
func cleanDMIText(_ s: String) -> String? {
    guard s.count <= 64, !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return nil }
    return s.trimmingCharacters(in: .whitespaces)
}

/// RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes.
public func percentEncodeQueryValue(_ s: String) -> String {
    var out = ""
    for byte in s.utf8 {
        let c = Unicode.Scalar(byte)
        if (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "-._~:".unicodeScalars.contains(c) {
            out.unicodeScalars.append(c)
        } else {
            out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return out
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// What one machine gets from the menu.
public struct MachineChoice: Sendable, Equatable {
    public var group: MachineGroup?
    public var override: MachineOverride?
    /// In menu order, filtered by platform and group.
    public var entries: [MenuEntry]
    public var defaultEntry: MenuEntry?
    public var timeoutSeconds: Int
    public var hostname: String
    /// Group kernel arguments (appended to each Linux entry's own).
    public var extraKernelArguments: String
    /// Install once put the local disk first (see InstallOnce.swift).
    public var installed = false
    /// Install once could not decide and chose the local disk: why, for the menu.
    public var installOnceReason: String?
}

extension BootMenu {
    /// The group a machine belongs to: the one its `machines` line names, else the first
    /// group (in file order) whose match takes it.
    public func group(for machine: MachineIdentity) -> MachineGroup? {
        if let name = machines[machine.mac]?.group { return groups.first { $0.id == name } }
        return groups.first { $0.match.matches(machine) }
    }

    public func choice(for machine: MachineIdentity) -> MachineChoice {
        let override = machines[machine.mac]
        let group = group(for: machine)
        let allowed = group?.entries.map(Set.init)
        let visible = entries.filter {
            $0.imageImported && $0.platforms.contains(machine.platform) && (allowed?.contains($0.id) ?? true)
                && (machine.chain == .ipxe || $0.kind.bootsUnderGRUB)
        }
        let wanted = [override?.defaultEntry, group?.defaultEntry, defaultEntry].compactMap { $0 }
        // A default hidden on this firmware falls through to the next one, then to the first
        // shown that erases nothing: erasing is a default only where an admin named it.
        let chosen = wanted.lazy.compactMap { id in visible.first { $0.id == id } }.first
            ?? visible.first { $0.kind != .diagnosticErase }
        return MachineChoice(
            group: group, override: override, entries: visible, defaultEntry: chosen,
            timeoutSeconds: group?.timeoutSeconds ?? timeoutSeconds,
            hostname: override?.hostname ?? "pc-\(machine.mac.hex)",
            extraKernelArguments: group?.kernelArguments ?? "")
    }
}

extension GroupMatch {
    public func matches(_ machine: MachineIdentity) -> Bool {
        if macs.contains(machine.mac) { return true }
        if macPrefixes.contains(where: { machine.mac.hex.hasPrefix($0) }) { return true }
        guard manufacturer != nil || product != nil else { return false }
        return matchesPattern(manufacturer, machine.manufacturer) && matchesPattern(product, machine.product)
    }
}

/// Case-insensitive match where `*` stands for any run of characters; a nil pattern matches anything.
func matchesPattern(_ pattern: String?, _ value: String?) -> Bool {
    guard let pattern else { return true }
    guard let value else { return false }
    let parts = pattern.lowercased().split(separator: "*", omittingEmptySubsequences: false).map(String.init)
    var rest = Substring(value.lowercased())
    for (i, part) in parts.enumerated() {
        if i == 0 {
            guard rest.hasPrefix(part) else { return false }
            rest = rest.dropFirst(part.count)
        } else if i == parts.count - 1 {
            return rest.hasSuffix(part)
        } else if !part.isEmpty {
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
    }
    return parts.count == 1 ? rest.isEmpty : true
}
