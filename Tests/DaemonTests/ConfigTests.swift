@testable import Daemon
import DHCP
import Foundation
import NetworkAddresses
import Testing

@Suite("configuration")
struct ConfigTests {
    static let repoConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/garage-pxe.yaml").path

    @Test("the shipped config loads, and its relative paths resolve next to it")
    func shippedConfig() throws {
        let c = try GaragePXEConfig.load(path: Self.repoConfig)
        let repo = URL(fileURLWithPath: Self.repoConfig).deletingLastPathComponent().deletingLastPathComponent().path
        #expect(c.site == "Atelier Garage")
        #expect(c.interface == "auto")
        #expect(c.address == nil)
        #expect(c.tftpRoot == "/usr/lib/ipxe")
        #expect(c.menusDirectory == repo + "/pxe-menus")
        #expect(c.bootfiles.arm64 == nil)
        #expect(c.proxyDHCP.biosDiscoveryControl == 8)
        #expect(c.proxyDHCP.efiDiscoveryControl == nil)
    }

    @Test("UEFI PCs get the signed chain by default; iPXE stays a config line away")
    func signedChainDefault() throws {
        let shipped = try GaragePXEConfig.load(path: Self.repoConfig)
        #expect(shipped.bootfiles.usesSignedChain)
        #expect(shipped.bootfiles.signedChainImage == "debian-13-amd64")
        // iPXE's loader for the PCs listed for it: snponly.efi, whose exit returns to the
        // firmware (install once's local-disk entry on UEFI).
        #expect(shipped.bootfiles.efiIPXELoader == "snponly.efi")
        let settings = shipped.proxySettings(serverAddress: IPv4Address(10, 0, 0, 2))
        #expect(settings.efiSignedChain && settings.efiBootfile == "snponly.efi")
        #expect(GaragePXEConfig().bootfiles.usesSignedChain, "the built-in default too")
        #expect(GaragePXEConfig().bootfiles.efiIPXELoader == "snponly.efi", "the built-in default too")

        let ipxe = try GaragePXEConfig.parse("""
        bootfiles:
          efi: ipxe.efi
        proxy_dhcp:
          uefi_ipxe:
            macs: ["52:54:00:12:34:56"]
            vendors: ["00:e0:4c"]
        """, file: "/etc/x.yaml")
        #expect(!ipxe.bootfiles.usesSignedChain)
        let ipxeSettings = ipxe.proxySettings(serverAddress: IPv4Address(10, 0, 0, 2))
        #expect(!ipxeSettings.efiSignedChain && ipxeSettings.efiBootfile == "ipxe.efi", "an admin's loader, as named")
        #expect(ipxeSettings.efiIPXEMACs == [MACAddress("52:54:00:12:34:56")!])
        #expect(ipxeSettings.efiIPXEVendorPrefixes == [[0x00, 0xe0, 0x4c]])

        #expect(throws: (any Error).self) {
            try GaragePXEConfig.parse("bootfiles:\n  signed_chain_image: ../etc\n", file: "/etc/x.yaml")
        }
    }

    @Test("an empty file gives the built-in defaults")
    func emptyFile() throws {
        let c = try GaragePXEConfig.parse("", file: "/etc/x.yaml")
        var expected = GaragePXEConfig()
        expected.sourceFile = "/etc/x.yaml"
        #expect(c == expected)
    }

    @Test("every mistake is reported with file, line and column, in file order")
    func positionedErrors() {
        let text = """
        site: x
        network:
          interfce: eth0
          address: 10.0.0.300
        http:
          port: "abc"
        limits:
          max_tftp_transfers: 0
        proxy_dhcp:
          snponly:
            macs: [zz]
            vendors: ["00:e0"]
          discovery_control: {bios: 99}
        bootfile: {}
        """
        #expect {
            try GaragePXEConfig.parse(text, file: "/etc/garage-pxe/garage-pxe.yaml")
        } throws: { error in
            let lines = "\(error)".split(separator: "\n").map(String.init)
            return lines == [
                "/etc/garage-pxe/garage-pxe.yaml:3:3: error: unknown key 'network.interfce' (expected one of: interface, address)",
                "/etc/garage-pxe/garage-pxe.yaml:4:12: error: 'network.address' must be an IPv4 address such as 192.168.1.10 or auto, found '10.0.0.300'",
                "/etc/garage-pxe/garage-pxe.yaml:6:9: error: 'http.port' must be a whole number, found 'abc'",
                "/etc/garage-pxe/garage-pxe.yaml:8:23: error: 'limits.max_tftp_transfers' must be between 1 and 10000, found 0",
                "/etc/garage-pxe/garage-pxe.yaml:11:12: error: 'proxy_dhcp.snponly.macs' item 'zz' is not a MAC address such as 52:54:00:12:34:56",
                "/etc/garage-pxe/garage-pxe.yaml:12:15: error: 'proxy_dhcp.snponly.vendors' item '00:e0' is not a MAC prefix of three octets such as 00:e0:4c",
                "/etc/garage-pxe/garage-pxe.yaml:13:29: error: 'proxy_dhcp.discovery_control.bios' must be between 0 and 15, found 99",
                "/etc/garage-pxe/garage-pxe.yaml:14:1: error: unknown key 'bootfile' (expected one of: site, user, network, http, tftp, paths, bootfiles, proxy_dhcp, installer, install_once, limits)",
            ]
        }
    }

    @Test("wrong shapes and YAML syntax errors are positioned too")
    func shapesAndSyntax() {
        #expect { try GaragePXEConfig.parse("network: eth0\n", file: "f.yaml") } throws: {
            "\($0)" == "f.yaml:1:10: error: 'network' must be a mapping of keys to values, found 'eth0'"
        }
        #expect { try GaragePXEConfig.parse("site: a\nsite: b\n", file: "f.yaml") } throws: {
            // Yams refuses duplicate keys itself, naming the key.
            "\($0)".hasPrefix("f.yaml:") && "\($0)".contains("'site'")
        }
        #expect { try GaragePXEConfig.parse("http:\n  port: [80\n", file: "f.yaml") } throws: {
            "\($0)".hasPrefix("f.yaml:3:1: error: YAML syntax:")
        }
        #expect { try GaragePXEConfig.parse("- a\n- b\n", file: "f.yaml") } throws: {
            "\($0)".hasPrefix("f.yaml:1:1: error: the document must be a mapping")
        }
    }

    @Test("installer and HTTP listen keys: values, defaults, positioned mistakes")
    func installerKeys() throws {
        let c = try GaragePXEConfig.parse("""
            http: {listen: 127.0.0.1, sendfile: false}
            installer: {mirror: "http://192.168.1.10:3142/deb.debian.org/debian", proxy: "http://10.0.0.1:3128", syslog_port: 5514, stall_seconds: 600}
            """, file: "f")
        #expect(c.installer.stallSeconds == 600)
        #expect(c.httpListenAddress == "127.0.0.1")
        #expect(c.httpSendfile == false)
        #expect(c.installer.mirror == "http://192.168.1.10:3142/deb.debian.org/debian")
        #expect(c.installer.proxy == .url("http://10.0.0.1:3128"))
        #expect(c.installer.syslogPort == 5514)
        #expect(try GaragePXEConfig.parse("installer: {proxy: none}\n", file: "f").installer.proxy == InstallerProxy.Setting.none)
        let defaults = try GaragePXEConfig.parse("installer: {proxy: auto}\n", file: "f")
        #expect(defaults.installer == GaragePXEConfig.Installer())
        #expect(defaults.installer.proxy == .auto)
        #expect(defaults.installer.stallSeconds == 300)
        #expect(defaults.httpListenAddress == "0.0.0.0")
        #expect(defaults.httpSendfile == true)
        #expect {
            try GaragePXEConfig.parse("http:\n  listen: everywhere\n  sendfile: sometimes\ninstaller:\n  mirror: deb.debian.org\n  syslog_port: 0\n  stall_seconds: 0\n", file: "f")
        } throws: { error in
            "\(error)".split(separator: "\n") == [
                "f:2:11: error: 'http.listen' must be an IPv4 address such as 0.0.0.0 or 127.0.0.1, found 'everywhere'",
                "f:3:13: error: 'http.sendfile' must be true or false, found 'sometimes'",
                "f:5:11: error: 'installer.mirror' must be an http:// or https:// URL such as http://deb.debian.org/debian, found 'deb.debian.org'",
                "f:6:16: error: 'installer.syslog_port' must be between 1 and 65535, found 0",
                "f:7:18: error: 'installer.stall_seconds' must be between 1 and 86400, found 0",
            ]
        }
    }

    @Test("command-line values win over the file")
    func overrides() throws {
        let c = try GaragePXEConfig.parse(
            "network: {interface: eth0, address: 10.0.0.1}\nhttp: {port: 8080}\ntftp: {root: /srv/tftp}\n", file: "/etc/g.yaml",
            overrides: ConfigOverrides(interface: "br0", address: "10.0.0.9", httpPort: 8081, tftpRoot: "/tmp/t",
                                       menusDirectory: "/m", imagesDirectory: "/i"))
        #expect(c.interface == "br0")
        #expect(c.address == IPv4Address(10, 0, 0, 9))
        #expect(c.httpPort == 8081)
        #expect(c.tftpRoot == "/tmp/t")
        #expect(c.menusDirectory == "/m")
        #expect(c.imagesDirectory == "/i")
        #expect { try GaragePXEConfig.parse("", file: "f", overrides: ConfigOverrides(httpPort: 70000)) } throws: {
            "\($0)" == "command line: error: --http-port must be between 1 and 65535, found 70000"
        }
    }

    @Test("the policy settings follow the config")
    func proxySettings() throws {
        let c = try GaragePXEConfig.parse("""
            http: {port: 8080}
            bootfiles: {arm64: ipxe-arm64.efi}
            proxy_dhcp: {discovery_control: {efi: 8, bios: none}, snponly: {vendors: ["00:E0:4C"]}}
            """, file: "f")
        let s = c.proxySettings(serverAddress: IPv4Address(10, 0, 0, 2))
        #expect(s.httpBaseURL == "http://10.0.0.2:8080")
        #expect(s.arm64Bootfile == "ipxe-arm64.efi")
        #expect(s.efiDiscoveryControl == 8)
        #expect(s.biosDiscoveryControl == nil)
        #expect(s.snponlyVendorPrefixes == [[0x00, 0xe0, 0x4c]])
        let port80 = try GaragePXEConfig.parse("", file: "f").proxySettings(serverAddress: IPv4Address(10, 0, 0, 2))
        #expect(port80.httpBaseURL == "http://10.0.0.2")
    }

    @Test("check names missing boot files and a missing TFTP root")
    func environment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-cfg-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = FileManager.default.createFile(atPath: dir.path + "/undionly.kpxe", contents: Data([1]))
        let c = try GaragePXEConfig.parse("tftp: {root: \(dir.path)}\n", file: "f")
        let problems = c.environmentProblems()
        #expect(problems.errors == [
            "boot file bootfiles.efi_ipxe 'snponly.efi' is not in the TFTP root \(dir.path)",
            "boot file bootfiles.efi_snponly 'snponly.efi' is not in the TFTP root \(dir.path)",
        ])
        // The signed chain (the default) needs an image with the signed shim and GRUB: a warning.
        #expect(problems.warnings.contains { $0.hasPrefix("bootfiles.efi is signed but \(c.imagesDirectory)/debian-13-amd64 has no bootnetx64.efi or grubx64.efi") })
        let ipxeOnly = try GaragePXEConfig.parse("tftp: {root: \(dir.path)}\nbootfiles: {efi: ipxe.efi}\n", file: "f").environmentProblems()
        #expect(ipxeOnly.errors.first == "boot file bootfiles.efi 'ipxe.efi' is not in the TFTP root \(dir.path)")
        #expect(!ipxeOnly.warnings.contains { $0.contains("signed") })
        let missing = try GaragePXEConfig.parse("tftp: {root: /nonexistent-gpx}\n", file: "f").environmentProblems()
        #expect(missing.errors.first?.hasPrefix("TFTP root /nonexistent-gpx is not a folder") == true)
    }

    @Test("check warns about ipxe.efi while install once sends UEFI PCs to their disk through iPXE's exit")
    func ipxeExitWarning() throws {
        func advice(_ yaml: String) throws -> [String] {
            try GaragePXEConfig.parse(yaml, file: "f").environmentProblems().warnings.filter { $0.contains("install_once is on") }
        }
        #expect(try GaragePXEConfig.load(path: Self.repoConfig).environmentProblems().warnings.allSatisfy { !$0.contains("install_once") })
        #expect(try advice("bootfiles: {efi: ipxe.efi}\n") == [
            "bootfiles.efi is ipxe.efi and install_once is on: on some UEFI firmware (OVMF) its local-disk entry's exit never returns, so an installed PC waits on the network boot instead of starting its disk; snponly.efi returns (set bootfiles.efi: snponly.efi)",
        ])
        #expect(try advice("bootfiles: {efi: snponly.efi}\n").isEmpty)
        #expect(try advice("bootfiles: {efi: ipxe.efi}\ninstall_once: {enabled: false}\n").isEmpty, "no exit to the disk without install once")
        // Under the signed chain iPXE runs only on the PCs listed for it.
        #expect(try advice("bootfiles: {efi_ipxe: ipxe.efi}\n").isEmpty)
        let listed = try advice("bootfiles: {efi_ipxe: ipxe.efi}\nproxy_dhcp: {uefi_ipxe: {vendors: [\"00:e0:4c\"]}}\n")
        #expect(listed.count == 1 && listed[0].hasPrefix("bootfiles.efi_ipxe is ipxe.efi") && listed[0].hasSuffix("(set bootfiles.efi_ipxe: snponly.efi)"))
    }

    @Test("install_once: on by default with the first local-disk entry; an entry or off; positioned mistakes")
    func installOnceKeys() throws {
        #expect(try GaragePXEConfig.parse("", file: "f").installOnce == .init(enabled: true, entry: nil))
        #expect(try GaragePXEConfig.parse("install_once: {enabled: false, entry: shell}\n", file: "f").installOnce == .init(enabled: false, entry: "shell"))
        #expect(try GaragePXEConfig.parse("install_once: {entry: auto}\n", file: "f").installOnce.entry == nil)
        #expect(try GaragePXEConfig.load(path: Self.repoConfig).installOnce == .init(enabled: true, entry: nil))
        #expect { try GaragePXEConfig.parse("install_once:\n  enabled: sometimes\n", file: "f") } throws: {
            "\($0)".hasPrefix("f:2:12: error: 'install_once.enabled' must be true or false")
        }
    }
}
