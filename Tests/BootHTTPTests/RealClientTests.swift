import BootHTTP
import BootMenus
import Foundation
import NetworkAddresses
import Testing
import TestSupport

/// curl against the real server on 127.0.0.1: every route, files with Range, HEAD and
/// conditionals, and the ways a path can try to leave a folder.
@Suite("HTTP boot routes, with curl")
struct RealClientTests {
    @Test("boot.ipxe: bootstrap without a MAC, the machine's menu with one, 400 for junk")
    func bootScripts() async throws {
        let server = try await RunningBootServer()
        defer { server.stop() }
        let bootstrap = try await server.curl(["\(server.base)/boot.ipxe"])
        #expect(bootstrap.status == 200)
        #expect(bootstrap.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(String(decoding: bootstrap.body, as: UTF8.self).contains("chain --replace --autofree http://10.99.0.1:8080/boot.ipxe?mac=${netX/mac}&platform=${platform}"))

        // What iPXE sends for a BIOS PC with empty DMI strings, percent-encoded.
        let menu = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:00:00:99&platform=efi&buildarch=x86_64&serial=PF0ABCDE&manufacturer=LENOVO&product=ThinkCentre%20M720q&uuid="])
        let text = String(decoding: menu.body, as: UTF8.self)
        #expect(menu.status == 200)
        #expect(text.contains("choose --timeout 5000 --default disque-local selected"))
        #expect(text.contains("LENOVO ThinkCentre M720q - s/n PF0ABCDE"))

        for bad in ["mac=52:54:00:12:34", "mac=52:54:00:12:34:56&platform=amiga", "mac=52:54:00:12:34:56&serial=a%0Ab"] {
            let r = try await server.curl(["\(server.base)/boot.ipxe?\(bad)"])
            #expect(r.status == 400, "\(bad)")
        }
        #expect(server.events.contains(.menuShown(machine: MachineIdentity(mac: MACAddress("52:54:00:00:00:99")!, platform: .efi, buildArchitecture: "x86_64", manufacturer: "LENOVO", product: "ThinkCentre M720q", serial: "PF0ABCDE"), entry: "disque-local", remote: "127.0.0.1", proven: false)))
        // From loopback, not the PC's own address: its DMI fields are logged as not stored.
        #expect(server.events.contains(.identityNotStored(mac: "52:54:00:00:00:99", remote: "127.0.0.1")))
    }

    @Test("boot.grub and ENTRY.grub: the signed chain's menu and entries, events with chain secureboot-shim")
    func grubRoutes() async throws {
        let server = try await RunningBootServer()
        defer { server.stop() }
        // As the grub.cfg sends it: DMI %-encoded by the script, no platform (GRUB is UEFI).
        let menu = try await server.curl(["\(server.base)/boot.grub?mac=52:54:00:00:00:99&platform=efi&buildarch=x86_64&ip=&manufacturer=LENOVO&product=ThinkCentre%20M720q&serial=PF0ABCDE"])
        let text = String(decoding: menu.body, as: UTF8.self)
        #expect(menu.status == 200)
        #expect(text.contains("set default='disque-local'") && text.contains("set timeout=5"))
        #expect(!text.contains("--id 'shell'"), "the iPXE shell is left out of GRUB's menu")
        #expect(!text.contains("rearm"), "no URL in a PC's GRUB menu re-arms it")
        #expect(try await server.curl(["\(server.base)/rearm.grub?mac=52:54:00:00:00:99"]).status == 404, "no GET re-arm route for GRUB")
        let entry = try await server.curl(["\(server.base)/boot/debian-13-auto.grub?mac=52:54:00:00:00:99&platform=efi"])
        #expect(entry.status == 200)
        let entryText = String(decoding: entry.body, as: UTF8.self)
        #expect(entryText.contains("linux \"${gp_server}/images/debian-13-amd64/linux\" auto=true priority=critical"))
        // Asked by a host that is not the PC: as for ENTRY.ipxe, no install token.
        #expect(entryText.contains("'url=http://10.99.0.1:8080/preseed/debian-13-auto.cfg?mac=52:54:00:00:00:99' "), "\(entryText)")
        #expect(!entryText.contains("token="))
        #expect(try await server.curl(["\(server.base)/boot/shell.grub?mac=52:54:00:00:00:99"]).status == 404)
        #expect(try await server.curl(["\(server.base)/boot.grub?mac=nope"]).status == 400)
        var machine = MachineIdentity(mac: MACAddress("52:54:00:00:00:99")!, platform: .efi, buildArchitecture: "x86_64",
                                      manufacturer: "LENOVO", product: "ThinkCentre M720q", serial: "PF0ABCDE")
        machine.chain = .secureBootShim
        #expect(server.events.contains(.menuShown(machine: machine, entry: "disque-local", remote: "127.0.0.1", proven: false)))
        var chosen = MachineIdentity(mac: MACAddress("52:54:00:00:00:99")!, platform: .efi)
        chosen.chain = .secureBootShim
        #expect(server.events.contains(.entryChosen(machine: chosen, entry: "debian-13-auto", remote: "127.0.0.1", proven: false, installs: true)))
    }

    @Test("UEFI HTTP boot: shim, GRUB and grub.cfg at their TFTP paths; GRUB's HEAD before each GET renders and records nothing")
    func signedChainOverHTTP() async throws {
        let server = try await RunningBootServer()
        defer { server.stop() }
        let shim = try await server.curl(["\(server.base)/debian-installer/amd64/bootnetx64.efi"])
        #expect(shim.status == 200 && shim.body == Data("shim\n".utf8))
        #expect(shim.headers["content-length"] == "5")
        // Shim asks for GRUB with a doubled slash.
        let grub = try await server.curl(["\(server.base)/debian-installer/amd64//grubx64.efi"])
        #expect(grub.status == 200 && grub.body == Data("grub\n".utf8))
        let head = try await server.curl(["-I", "\(server.base)/debian-installer/amd64/grub/grub.cfg"])
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == String(RunningBootServer.signedChain["debian-installer/amd64/grub/grub.cfg"]!.utf8.count))
        for other in ["debian-installer/amd64/revocations_sbat.efi", "debian-installer/amd64/grub/x86_64-efi/command.lst", "debian-installer/"] {
            #expect(try await server.curl(["\(server.base)/\(other)"]).status == 404, "\(other)")
        }
        let sent = server.events.compactMap { event -> String? in
            if case .fileSent(let path, _, _, _) = event { return path }
            return nil
        }
        #expect(sent == ["/debian-installer/amd64/bootnetx64.efi", "/debian-installer/amd64/grubx64.efi"], "a HEAD is not a file sent")

        let before = server.events.count
        #expect(try await server.curl(["-I", "\(server.base)/boot.grub?mac=52:54:00:00:00:99&platform=efi"]).status == 200)
        #expect(try await server.curl(["-I", "\(server.base)/boot/debian-13-auto.grub?mac=52:54:00:00:00:99&platform=efi"]).status == 200)
        #expect(try await server.curl(["-I", "\(server.base)/boot/debian-13-auto.ipxe?mac=52:54:00:00:00:99"]).status == 404)
        #expect(!server.events.dropFirst(before).contains { event in
            switch event {
            case .menuShown, .entryChosen: true
            default: false
            }
        }, "no menu.shown or menu.chosen for a HEAD")
    }

    @Test("entry scripts, preseeds, post-install scripts and progress calls, asked by a host that is not the PC: no token, nothing armed")
    func entryPreseedProgress() async throws {
        let server = try await RunningBootServer()
        defer { server.stop() }
        let entry = try await server.curl(["\(server.base)/boot/debian-13-auto.ipxe?mac=52:54:00:12:34:56&platform=pcbios"])
        #expect(entry.status == 200)
        #expect(String(decoding: entry.body, as: UTF8.self).contains(
            "auto=true priority=critical url=http://10.99.0.1:8080/preseed/debian-13-auto.cfg?mac=52:54:00:12:34:56 log_host=10.99.0.1 log_port=514"))
        #expect(try await server.curl(["\(server.base)/boot/nope.ipxe?mac=52:54:00:12:34:56"]).status == 404)
        #expect(try await server.curl(["\(server.base)/boot/debian-13-auto.ipxe"]).status == 400)

        let preseed = try await server.curl(["\(server.base)/preseed/debian-13-auto.cfg?mac=52-54-00-12-34-56"])
        let preseedText = String(decoding: preseed.body, as: UTF8.self)
        #expect(preseed.status == 200)
        #expect(preseedText.contains("d-i netcfg/get_hostname string pc-525400123456"))
        #expect(preseedText.contains("wget -q -O /dev/null \"http://10.99.0.1:8080/progress?mac=52:54:00:12:34:56&stage=finished\""))
        #expect(!preseedText.contains("token="))
        // A token, but not one this server gave: refused.
        #expect(try await server.curl(["\(server.base)/preseed/debian-13-auto.cfg?mac=52:54:00:12:34:56&token=00112233445566778899aabbccddeeff"]).status == 403)
        #expect(try await server.curl(["\(server.base)/preseed/shell.cfg?mac=52:54:00:12:34:56"]).status == 404)

        let script = try await server.curl(["\(server.base)/postinstall/atelier.sh"])
        #expect(script.status == 200)
        #expect(script.body == (try Data(contentsOf: URL(fileURLWithPath: Repo.path("pxe-menus/postinstall/atelier.sh")))))
        #expect(try await server.curl(["--path-as-is", "\(server.base)/postinstall/../menu.yaml"]).status == 404)

        // Progress without the install's token (or with a wrong one): 403, nothing reported.
        #expect(try await server.curl(["\(server.base)/progress?mac=52:54:00:12:34:56&stage=finished"]).status == 403)
        #expect(try await server.curl(["\(server.base)/progress?mac=52:54:00:12:34:56&stage=finished&token=00112233445566778899aabbccddeeff"]).status == 403)
        #expect(try await server.curl(["\(server.base)/progress?mac=52:54:00:12:34:56&stage=rm%20-rf"]).status == 400)
        #expect(try await server.curl(["\(server.base)/progress?stage=finished"]).status == 400)
        // Re-arming: a GET changes nothing (405), a POST needs the admin token (403).
        let getRearm = try await server.curl(["\(server.base)/rearm?mac=52:54:00:12:34:56"])
        #expect(getRearm.status == 405)
        #expect(getRearm.headers["allow"] == "POST")
        #expect(try await server.curl(["-X", "POST", "\(server.base)/rearm?mac=52:54:00:12:34:56"]).status == 403)
        #expect(try await server.curl(["-X", "POST", "-H", "Authorization: Bearer \(String(repeating: "0", count: 64))",
                                       "\(server.base)/rearm?mac=52:54:00:12:34:56"]).status == 403)
        #expect(server.statistics.counts.refused[403] == 5)
        #expect(server.statistics.counts.refused[405] == 1)
        let events = server.events
        #expect(events.contains(.entryChosen(machine: MachineIdentity(mac: MACAddress("52:54:00:12:34:56")!, platform: .bios), entry: "debian-13-auto", remote: "127.0.0.1", proven: false, installs: true)))
        #expect(events.contains(.preseedRead(machine: MachineIdentity(mac: MACAddress("52:54:00:12:34:56")!, platform: .bios), entry: "debian-13-auto", remote: "127.0.0.1")))
        #expect(!events.contains { if case .preseedSent = $0 { true } else { false } })
        #expect(!events.contains { if case .progress = $0 { true } else { false } })
        #expect(!events.contains { if case .rearmed = $0 { true } else { false } })
    }

    @Test("files: whole, Content-Length, HEAD, ranges, 416, ETag and Last-Modified conditionals (sendfile, then streamed)",
          arguments: [true, false])
    func files(zeroCopy: Bool) async throws {
        let size = 3 * 1024 * 1024 + 7
        let server = try await RunningBootServer(initrdBytes: size, zeroCopy: zeroCopy)
        defer { server.stop() }
        let url = "\(server.base)/images/debian-13-amd64/initrd.gz"
        let expected = RunningBootServer.pattern(size)

        let whole = try await server.curl([url])
        #expect(whole.status == 200)
        #expect(whole.headers["content-length"] == String(size))
        #expect(whole.headers["accept-ranges"] == "bytes")
        #expect(whole.body == expected)
        let etag = try #require(whole.headers["etag"])
        let lastModified = try #require(whole.headers["last-modified"])

        let head = try await server.curl(["-I", url])
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == String(size))
        #expect(head.headers["etag"] == etag)
        // curl -I writes the headers as its output; no byte of the file follows them.
        #expect(String(decoding: head.body, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        #expect(head.body.count < 1024)

        let cases: [(String, Int, ClosedRange<Int>?)] = [
            ("0-99", 206, 0...99), ("100-", 206, 100...(size - 1)), ("-500", 206, (size - 500)...(size - 1)),
            ("1048570-1048580", 206, 1_048_570...1_048_580), ("\(size - 1)-\(size + 100)", 206, (size - 1)...(size - 1)),
            ("\(size)-", 416, nil), ("0-1,5-6", 200, 0...(size - 1)), ("abc", 200, 0...(size - 1)),
        ]
        for (range, status, bytes) in cases {
            let r = try await server.curl(["-H", "Range: bytes=\(range)", url].map { $0 == "Range: bytes=abc" ? "Range: abc" : $0 })
            #expect(r.status == status, "Range \(range)")
            if let bytes {
                #expect(r.body == expected.subdata(in: bytes.lowerBound..<(bytes.upperBound + 1)), "Range \(range)")
                #expect(r.headers["content-length"] == String(bytes.count), "Range \(range)")
                if status == 206 { #expect(r.headers["content-range"] == "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(size)") }
            } else {
                #expect(r.headers["content-range"] == "bytes */\(size)")
            }
        }
        // curl's own resume (-C) is a Range request too.
        let partial = server.root.appendingPathComponent("resume")
        try expected.prefix(1_000_000).write(to: partial)
        #expect(try await runCurl(["-s", "--max-time", "60", "-C", "-", "-o", partial.path, url]) == 0)
        #expect(try Data(contentsOf: partial) == expected)

        #expect(try await server.curl(["-H", "If-None-Match: \(etag)", url]).status == 304)
        #expect(try await server.curl(["-H", "If-Modified-Since: \(lastModified)", url]).status == 304)
        #expect(try await server.curl(["-H", "If-None-Match: \"other\"", url]).status == 200)
        // A range against a changed file (If-Range mismatch) gets the whole file.
        let ifRange = try await server.curl(["-H", "Range: bytes=0-9", "-H", "If-Range: \"old\"", url])
        #expect(ifRange.status == 200)
        #expect(ifRange.body.count == size)

        #expect(server.events.contains(.fileSent(path: "/images/debian-13-amd64/initrd.gz", bytes: Int64(size), range: nil, remote: "127.0.0.1")))
        #expect(server.events.contains(.fileSent(path: "/images/debian-13-amd64/initrd.gz", bytes: 100, range: "bytes 0-99/\(size)", remote: "127.0.0.1")))
    }

    @Test("one kept-alive connection: a range, the whole file, a HEAD, a menu, the file again; each body where it belongs",
          arguments: [true, false])
    func keptAlive(zeroCopy: Bool) async throws {
        let size = 2 * 1024 * 1024 + 3
        let server = try await RunningBootServer(initrdBytes: size, zeroCopy: zeroCopy)
        defer { server.stop() }
        let url = "\(server.base)/images/debian-13-amd64/initrd.gz"
        let expected = RunningBootServer.pattern(size)
        let out = (0..<5).map { server.root.appendingPathComponent("kept-\($0)").path }
        let report = server.root.appendingPathComponent("connections").path
        // --next keeps curl's connection cache: all five requests go over one connection,
        // so a body sent from below Hummingbird's codec must sit between its head and end.
        let common = ["-s", "--max-time", "60", "-w", "%{num_connects} %{http_code} %{size_download}\\n"]
        var arguments = common + ["-r", "100-199", "-o", out[0], url, "--next"]
        arguments += common + ["-o", out[1], url, "--next"]
        arguments += common + ["-I", "-o", out[2], url, "--next"]
        arguments += common + ["-o", out[3], "\(server.base)/boot.ipxe?mac=52:54:00:12:34:56&platform=efi", "--next"]
        arguments += common + ["-o", out[4], url]
        #expect(try await runWithoutBlocking("/bin/sh", ["-c", "exec \"$0\" \"$@\" >\(report)", "/usr/bin/curl"] + arguments) == 0)
        let lines = try String(contentsOfFile: report, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        // One new connection for the first transfer, none after.
        #expect(lines.map { $0.split(separator: " ")[0] } == ["1", "0", "0", "0", "0"], "\(lines)")
        #expect(lines.map { $0.split(separator: " ")[1] } == ["206", "200", "200", "200", "200"], "\(lines)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out[0])) == expected.subdata(in: 100..<200))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out[1])) == expected)
        #expect(try String(contentsOfFile: out[3], encoding: .utf8).hasPrefix("#!ipxe"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out[4])) == expected)
    }

    @Test("a file cut short while it is being sent: the connection is closed (the client sees a short body), the server goes on",
          arguments: [true, false])
    func truncatedWhileSent(zeroCopy: Bool) async throws {
        // Why a fixed 24 MiB file was not enough: curl 7.88's --limit-rate takes about 10 MB
        // at once, then nothing for 5 s, and so on, while the kernel can hold up to this much
        // more between the server and curl (receive and send buffers at their autotuning
        // maximum; tcp_rmem allows 32 MiB on the lab's machines). A cut made late on a loaded
        // machine could then come after the server had sent the whole file, and curl exit 0.
        // Now the file is larger than two of curl's bursts and both buffers together, and
        // curl is stopped while it is cut, so the server is still sending then.
        let buffered = try Self.largestTCPBuffer("tcp_rmem") + Self.largestTCPBuffer("tcp_wmem")
        let size = buffered + 24 * 1024 * 1024
        let server = try await RunningBootServer(initrdBytes: size, zeroCopy: zeroCopy)
        defer { server.stop() }
        let file = server.imagesDirectory.appendingPathComponent("debian-13-amd64/initrd.gz").path
        let url = "\(server.base)/images/debian-13-amd64/initrd.gz"
        let body = server.root.appendingPathComponent("short").path
        // A slow reader (2 MB/s), so most of the file is still to send when it is cut.
        let curl = try startWithoutBlocking("/usr/bin/curl", ["-s", "--max-time", "600", "--limit-rate", "2M", "-o", body, url])
        // curl is stopped (SIGSTOP) whenever its progress is read and while the file is cut:
        // what it has taken is then fixed, however late this task runs on a loaded machine.
        var stopped = false
        defer { if stopped { kill(curl.pid, SIGCONT) } }
        var seen = 0
        for _ in 0..<4800 {
            try await Task.sleep(for: .milliseconds(25))
            try Self.pause(curl.pid)
            stopped = true
            seen = (try? FileManager.default.attributesOfItem(atPath: body)[.size] as? Int) ?? 0
            if seen >= 2 * 1024 * 1024 { break }
            kill(curl.pid, SIGCONT)
            stopped = false
        }
        #expect(seen >= 2 * 1024 * 1024)
        try #require(seen + buffered + 1024 * 1024 < size,
                     "curl took \(seen) bytes before it was stopped: the kernel's buffers could hold the rest of the file")
        #expect(truncate(file, 1024 * 1024) == 0)
        kill(curl.pid, SIGCONT)
        stopped = false
        // 18: "transfer closed with outstanding read data remaining". A server that kept
        // the connection open without sending would leave curl to its timeout (28).
        #expect(await curl.exitStatus() == 18)
        // The server still serves, the (now short) file whole.
        let after = try await server.curl(["\(server.base)/images/debian-13-amd64/initrd.gz"])
        #expect(after.status == 200)
        #expect(after.body == RunningBootServer.pattern(1024 * 1024), "the first MiB of the same pattern")
    }

    /// The largest buffer TCP autotuning may give a socket (the third number of
    /// /proc/sys/net/ipv4/tcp_rmem or tcp_wmem).
    static func largestTCPBuffer(_ name: String) throws -> Int {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/\(name)", encoding: .utf8)
        return try #require(text.split(whereSeparator: \.isWhitespace).last.flatMap { Int($0) }, "\(name): \(text)")
    }

    /// Stops `pid` with SIGSTOP and waits (bounded) until the kernel shows it stopped (or
    /// ended).
    static func pause(_ pid: pid_t) throws {
        kill(pid, SIGSTOP)
        for _ in 0..<5000 {
            // /proc/PID/stat: "PID (comm) STATE …"; T: stopped, Z: ended.
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { return }
            if let state = stat[close...].dropFirst(2).first, state == "T" || state == "Z" { return }
            usleep(1000)
        }
        throw CurlNotStopped(pid: pid)
    }

    struct CurlNotStopped: Error { let pid: pid_t }

    @Test("traversal, encoded traversal, hidden files and symlinks out are refused; other paths are 404", arguments: [
        ("/images/../outside/secret.txt", 403), ("/images/%2e%2e/outside/secret.txt", 403), ("/images/..%2foutside%2fsecret.txt", 403),
        ("/images/debian-13-amd64%2f..%2f..%2foutside%2fsecret.txt", 403), ("/images/debian-13-amd64/escape", 403),
        ("/images/debian-13-amd64/.hidden", 403), ("/images/debian-13-amd64/", 403), ("/images/debian-13-amd64", 404),
        ("/images/debian-13-amd64/nope", 404), ("/images/%zz", 400), ("/images/a%00b", 403),
        ("/tftp/secret.efi", 403), ("/tftp/../outside/secret.txt", 403), ("/tftp//etc/passwd", 403),
        ("/etc/passwd", 404), ("/", 404), ("/boot", 404), ("/menu.yaml", 404), ("/templates/menu.ipxe.mustache", 404),
    ])
    func refused(path: String, status: Int) async throws {
        let server = try await RunningBootServer(initrdBytes: 10)
        defer { server.stop() }
        let r = try await server.curl(["--path-as-is", "\(server.base)\(path)"])
        #expect(r.status == status, "\(path)")
        #expect(!String(decoding: r.body, as: UTF8.self).contains("secret"))
        #expect(!String(decoding: r.body, as: UTF8.self).contains("root:"))
    }

    @Test("boot loaders for UEFI HTTP boot, read-only, links inside the root followed")
    func tftpOverHTTP() async throws {
        let server = try await RunningBootServer(initrdBytes: 10)
        defer { server.stop() }
        for name in ["ipxe.efi", "snponly.efi"] {
            let r = try await server.curl(["\(server.base)/tftp/\(name)"])
            #expect(r.status == 200)
            #expect(r.body == Data("EFI loader\n".utf8))
            #expect(r.headers["content-length"] == "11")
        }
        #expect(try await server.curl(["-X", "PUT", "--data", "x", "\(server.base)/tftp/ipxe.efi"]).status == 404)
        #expect(try await server.curl(["-X", "DELETE", "\(server.base)/images/debian-13-amd64/linux"]).status == 404)
    }

    @Test("a reload swaps the whole snapshot: requests see the old menu or the new one")
    func snapshotSwap() async throws {
        let server = try await RunningBootServer(initrdBytes: 10)
        defer { server.stop() }
        let before = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:12:34:56"])
        #expect(String(decoding: before.body, as: UTF8.self).contains("http://10.99.0.1:8080/boot/"))
        var snapshot = server.store.snapshot
        snapshot.server.baseURL = "http://10.99.0.2"
        server.store.replace(with: snapshot)
        let after = try await server.curl(["\(server.base)/boot.ipxe?mac=52:54:00:12:34:56"])
        #expect(String(decoding: after.body, as: UTF8.self).contains("http://10.99.0.2/boot/"))
    }
}
