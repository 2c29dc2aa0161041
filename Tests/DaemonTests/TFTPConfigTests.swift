import BootHTTP
@testable import Daemon
import Foundation
import InstallJournal
import NetworkAddresses
import TFTP
import Testing

@Suite("configuration: TFTP keys")
struct TFTPConfigTests {
    @Test("the shipped config sets the TFTP keys, and they reach the server's settings")
    func shipped() throws {
        let c = try GaragePXEConfig.load(path: ConfigTests.repoConfig)
        #expect(c.tftp.port == 69)
        #expect(c.tftp.trustedLinkTargets == ["/boot"])
        #expect(c.tftp.timeoutMilliseconds == 1000)
        #expect(c.tftp.retries == 10)
        #expect(c.tftp.refuseOptions.isEmpty)
        #expect(c.tftp.transferThreads == 8)
        let s = c.tftpServerSettings
        #expect(s.root == "/usr/lib/ipxe")
        #expect(s.maxTransfers == 64)
        #expect(s.maxTransfersPerClient == 4)
        #expect(s.retransmit.silenceLimit == .seconds(30))
        #expect(s.maxBlockSize == 1468)
        #expect(s.maxWindowSize == 16)
        #expect(s.retransmit.ceiling == .seconds(1))
        #expect(s.retransmit.maxRetries == 10)
    }

    @Test("refuse_options takes MACs and vendor prefixes")
    func refusals() throws {
        let c = try GaragePXEConfig.parse("""
            tftp:
              timeout_ms: 500
              retries: 4
              transfer_threads: 4
              trusted_link_targets: [links]
              refuse_options:
                - {mac: "52:54:00:12:34:56", options: [blksize]}
                - vendor: 00-E0-4C
                  options: [BLKSIZE, windowsize, tsize]
            """, file: "/etc/g/garage-pxe.yaml")
        #expect(c.tftp.refuseOptions == [
            TFTPOptionRefusal(client: .mac(MACAddress("52:54:00:12:34:56")!), options: [.blksize]),
            TFTPOptionRefusal(client: .vendor([0x00, 0xe0, 0x4c]), options: [.blksize, .windowsize, .tsize]),
        ])
        #expect(c.tftp.trustedLinkTargets == ["/etc/g/links"])
        #expect(c.tftp.transferThreads == 4)
        #expect(c.tftpServerSettings.retransmit == TFTPRetransmitPolicy(ceiling: .milliseconds(500), maxRetries: 4))
        #expect(c.tftpServerSettings.optionRefusals == c.tftp.refuseOptions)
    }

    @Test("wrong TFTP values are reported with file, line and column")
    func positionedErrors() {
        let text = """
        tftp:
          port: 0
          timeout_ms: fast
          retries: 1000
          refuse_options:
            - {mac: "52:54:00:12:34", options: [blksize]}
            - {vendor: "00:e0", options: [blocksize]}
            - {mac: "52:54:00:12:34:56", vendor: "00:e0:4c", options: []}
            - {options: [tsize]}
            - {mac: "52:54:00:12:34:56", size: 3}
          transfer_threads: 0
        """
        #expect {
            try GaragePXEConfig.parse(text, file: "g.yaml")
        } throws: { error in
            let lines = "\(error)".split(separator: "\n").map(String.init)
            return lines == [
                "g.yaml:2:9: error: 'tftp.port' must be between 1 and 65535, found 0",
                "g.yaml:3:15: error: 'tftp.timeout_ms' must be a whole number, found 'fast'",
                "g.yaml:4:12: error: 'tftp.retries' must be between 1 and 100, found 1000",
                "g.yaml:6:13: error: 'tftp.refuse_options[0].mac' must be a MAC address such as 52:54:00:12:34:56, found '52:54:00:12:34'",
                "g.yaml:7:16: error: 'tftp.refuse_options[1].vendor' must be a MAC prefix of three octets such as 00:e0:4c, found '00:e0'",
                "g.yaml:7:35: error: 'tftp.refuse_options[1].options' item 'blocksize' is not a TFTP option (expected one of: blksize, tsize, timeout, windowsize)",
                "g.yaml:8:7: error: 'tftp.refuse_options[2]' must name either a mac or a vendor, not both",
                "g.yaml:9:7: error: 'tftp.refuse_options[3]' must name a mac or a vendor",
                "g.yaml:10:7: error: 'tftp.refuse_options[4]' must list the options to refuse (blksize, tsize, timeout, windowsize)",
                "g.yaml:10:34: error: unknown key 'tftp.refuse_options[4].size' (expected one of: mac, vendor, options)",
                "g.yaml:11:21: error: 'tftp.transfer_threads' must be between 1 and 64, found 0",
            ]
        }
        #expect { try GaragePXEConfig.parse("tftp: {refuse_options: blksize}\n", file: "g.yaml") } throws: {
            "\($0)" == "g.yaml:1:24: error: 'tftp.refuse_options' must be a list, found 'blksize'"
        }
    }

    @Test("the per-client cap and the silence ceiling reach the server's settings; out of range is a positioned error")
    func slotLimits() throws {
        let c = try GaragePXEConfig.parse("limits: {max_tftp_transfers_per_client: 2, tftp_silent_transfer_seconds: 45}\n", file: "g.yaml")
        #expect(c.tftpServerSettings.maxTransfersPerClient == 2)
        #expect(c.tftpServerSettings.retransmit.silenceLimit == .seconds(45))
        #expect {
            try GaragePXEConfig.parse("limits:\n  max_tftp_transfers_per_client: 0\n  tftp_silent_transfer_seconds: 0\n", file: "g.yaml")
        } throws: { error in
            "\(error)".split(separator: "\n") == [
                "g.yaml:2:34: error: 'limits.max_tftp_transfers_per_client' must be between 1 and 10000, found 0",
                "g.yaml:3:33: error: 'limits.tftp_silent_transfer_seconds' must be between 1 and 3600, found 0",
            ]
        }
    }

    @Test("the HTTP bounds: shipped values equal the defaults, set values reach the server's limits, out of range is a positioned error; the descriptors they need")
    func httpBounds() throws {
        let shipped = try GaragePXEConfig.load(path: ConfigTests.repoConfig)
        #expect(shipped.limits.http == HTTPConnectionLimits())
        #expect(DescriptorBudget.needed(shipped.limits) == 1024 * 3 + 64 * 3 + 512, "the unit's LimitNOFILE= comment says 3776")
        let yaml = "limits: {max_http_connections: 200, max_http_connections_per_client: 8, http_request_seconds: 5, "
            + "http_min_send_bytes_per_second: 0, max_event_streams: 4}\n"
        let c = try GaragePXEConfig.parse(yaml, file: "g.yaml")
        #expect(c.limits.http == HTTPConnectionLimits(maxConnections: 200, maxConnectionsPerClient: 8, requestDeadline: .seconds(5),
                                                      minimumSendBytesPerSecond: 0, maxEventStreams: 4))
        #expect {
            try GaragePXEConfig.parse("limits:\n  max_http_connections: 4096\n  max_event_streams: 0\n", file: "g.yaml")
        } throws: { error in
            "\(error)".split(separator: "\n") == [
                "g.yaml:2:25: error: 'limits.max_http_connections' must be between 16 and 2048, found 4096",
                "g.yaml:3:22: error: 'limits.max_event_streams' must be between 1 and 1000, found 0",
            ]
        }
    }

    @Test("the start-up read's bounds: shipped values equal the defaults, set values are read, out of range is a positioned error")
    func startupReadBounds() throws {
        let shipped = try GaragePXEConfig.load(path: ConfigTests.repoConfig)
        #expect(shipped.limits.startupRead == InstallOnceTracker.defaultReadBound)
        let c = try GaragePXEConfig.parse("limits: {startup_read_events: 1000, startup_read_seconds: 3}\n", file: "g.yaml")
        #expect(c.limits.startupRead == JournalReadBound(maxRecords: 1000, maxSeconds: 3))
        #expect {
            try GaragePXEConfig.parse("limits:\n  startup_read_events: 0\n  startup_read_seconds: 60\n", file: "g.yaml")
        } throws: { error in
            "\(error)".split(separator: "\n") == [
                "g.yaml:2:24: error: 'limits.startup_read_events' must be between 1 and 10000000, found 0",
                "g.yaml:3:25: error: 'limits.startup_read_seconds' must be between 1 and 25, found 60",
            ]
        }
    }

    @Test("check refuses a boot file that links out of the root unless its folder is trusted")
    func linkedBootFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpx-tftp-cfg-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/boot", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        for name in ["undionly.kpxe", "snponly.efi"] { _ = fm.createFile(atPath: dir + "/root/" + name, contents: Data([1])) }
        _ = fm.createFile(atPath: dir + "/boot/ipxe.efi", contents: Data([1]))
        try fm.createSymbolicLink(atPath: dir + "/root/ipxe.efi", withDestinationPath: dir + "/boot/ipxe.efi")
        // Debian's ipxe.efi, as an admin may name it (snponly.efi, the default, is a file).
        let strict = try GaragePXEConfig.parse("tftp: {root: \(dir)/root}\nbootfiles: {efi_ipxe: ipxe.efi}\n", file: "f")
        #expect(strict.environmentProblems().errors == [
            "boot file bootfiles.efi_ipxe 'ipxe.efi' (a link to \(dir)/boot/ipxe.efi) would be refused over TFTP: Outside the TFTP root; add its folder to tftp.trusted_link_targets",
        ])
        let trusting = try GaragePXEConfig.parse("tftp: {root: \(dir)/root, trusted_link_targets: [\(dir)/boot]}\nbootfiles: {efi_ipxe: ipxe.efi}\n", file: "f")
        #expect(trusting.environmentProblems().errors.isEmpty)
    }
}
