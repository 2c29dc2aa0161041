// swift-tools-version:6.0
// garage-pxe: proxyDHCP + TFTP + HTTP network-install server for a refurbishment workshop.
// The module layout is docs/design.md's: one module per concern, protocol logic pure.
import PackageDescription

let package = Package(
    name: "garage-pxe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "garage-pxe", targets: ["garage-pxe"]),
        // Libraries exported for the benchmark package under Benchmarks/ and the fuzz
        // targets under Fuzz/.
        .library(name: "NetworkAddresses", targets: ["NetworkAddresses"]),
        .library(name: "FileJail", targets: ["FileJail"]),
        .library(name: "DHCP", targets: ["DHCP"]),
        .library(name: "UDP", targets: ["UDP"]),
        .library(name: "TFTP", targets: ["TFTP"]),
        .library(name: "BootMenus", targets: ["BootMenus"]),
        .library(name: "YAMLDiagnostics", targets: ["YAMLDiagnostics"]),
        .library(name: "BootHTTP", targets: ["BootHTTP"]),
        .library(name: "InstallJournal", targets: ["InstallJournal"]),
        .library(name: "Images", targets: ["Images"]),
        .library(name: "Inventory", targets: ["Inventory"]),
        .library(name: "MachineRecords", targets: ["MachineRecords"]),
        .library(name: "Certificates", targets: ["Certificates"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        // The daemon's services under one ServiceGroup (Hummingbird's Application is one).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // libsystemd through pkg-config; only the non-variadic (…v) entry points are usable from Swift.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // <sys/epoll.h>, which Swift's Glibc module leaves out.
        .systemLibrary(name: "CEpoll"),
        // The lowest layer, importing nothing: the one MAC address type and parser, the one
        // IPv4 address type, hex text, Duration in milliseconds. Its own module (not UDP or
        // DHCP) so that the menus, the journal and the HTTP side can hold a MAC without
        // linking sockets or a packet codec.
        .target(name: "NetworkAddresses"),
        // The one jail for files served to the LAN (TFTP and HTTP): one rule set for names,
        // symlinks and hidden files, and the opened descriptor that gets served.
        .target(name: "FileJail"),
        // capset(2), for keeping the one capability binding needs while the daemon drops root.
        .systemLibrary(name: "CCapabilities"),
        // BSD sockets on Dispatch: binding, IP_PKTINFO, broadcast, interface discovery.
        .target(name: "UDP", dependencies: ["CEpoll", "NetworkAddresses"]),
        // DHCP/BOOTP codec and the proxyDHCP policy (bytes and values only, no sockets, no
        // clock), and the proxyDHCP server that runs the policy on UDP sockets.
        .target(name: "DHCP", dependencies: ["NetworkAddresses", "UDP"]),
        // TFTP codec, option negotiation, one transfer as a pure state machine, and the
        // server that runs transfers on UDP sockets.
        .target(name: "TFTP", dependencies: ["UDP", "NetworkAddresses", "FileJail"]),
        // Positioned (file:line:column) reading of the YAML files admins edit.
        .target(name: "YAMLDiagnostics", dependencies: [.product(name: "Yams", package: "Yams")]),
        // zlib through pkg-config, for streaming netboot.tar.gz without unpacking it to memory.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // menu.yaml model, validation, choosing entries, rendering iPXE scripts and preseeds.
        .target(
            name: "BootMenus",
            dependencies: ["NetworkAddresses", "YAMLDiagnostics", .product(name: "Mustache", package: "swift-mustache")]
        ),
        // Netboot image catalogue and the Debian import (package tree or netboot.tar.gz).
        .target(
            name: "Images",
            dependencies: ["CZlib", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The install journal: event kinds and fields, writing with sd_journal_sendv,
        // reading back with sd_journal_open* and matches, the per-machine summary; the
        // installer's syslog, parsed and received (its UDP socket, rate-limited per sender).
        .target(name: "InstallJournal", dependencies: ["CSystemd", "NetworkAddresses", "UDP"]),
        // What the diagnostic environment reports (hardware inventory, per-disk wipe
        // results), their strict validation, and the health grade: values only, no I/O.
        .target(name: "Inventory"),
        // One record per PC from its journal events (keyed by DMI serial, disk serials,
        // MACs), the reports' journal fields both ways, the CSV export: a pure fold.
        .target(name: "MachineRecords", dependencies: ["InstallJournal", "Inventory"]),
        // Erasure certificates: canonical bytes, the site's Ed25519 key, the French HTML,
        // verification of a .json or .html certificate.
        .target(name: "Certificates", dependencies: ["Inventory", "MachineRecords", .product(name: "Crypto", package: "swift-crypto")]),
        // The HTTP side: boot scripts, images, preseeds, progress callbacks, the bench page.
        .target(
            name: "BootHTTP",
            dependencies: [
                "NetworkAddresses", "FileJail", "BootMenus", "Images", "InstallJournal", "Inventory", "MachineRecords", "Certificates",
                .product(name: "Hummingbird", package: "hummingbird"),
                // AvailableConnectionsDelegate: no connection accepted before the daemon says so.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Wiring: configuration, the services on their sockets run by one ServiceGroup, sd_notify.
        .target(
            name: "Daemon",
            dependencies: [
                "NetworkAddresses", "FileJail", "UDP", "DHCP", "TFTP", "CSystemd", "CCapabilities", "YAMLDiagnostics", "BootMenus", "Images", "BootHTTP", "InstallJournal",
                "Inventory", "MachineRecords", "Certificates",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Thin executable: argument parsing only.
        .executableTarget(
            name: "garage-pxe",
            dependencies: [
                "Daemon", "DHCP", "BootMenus", "Images", "BootHTTP", "InstallJournal", "Inventory", "MachineRecords", "Certificates",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DHCPTests", dependencies: ["DHCP", "NetworkAddresses", "TestSupport"]),
        // The MAC/IPv4 parsers and the file jail's one rule set, hidden files included.
        .testTarget(name: "NetworkAddressesTests", dependencies: ["NetworkAddresses"]),
        .testTarget(name: "FileJailTests", dependencies: ["FileJail"]),
        .testTarget(name: "UDPTests", dependencies: ["UDP", "NetworkAddresses"]),
        .testTarget(name: "TFTPTests", dependencies: ["TFTP", "UDP", "FileJail", "NetworkAddresses"]),
        // Real TFTP clients (tftp-hpa, atftp, curl) against the server, on loopback and
        // across a lossy link between network namespaces the tests create.
        .testTarget(name: "TFTPClientTests", dependencies: ["TFTP", "UDP", "NetworkAddresses", "garage-pxe", "TestSupport"]),
        // The log-forging test runs the real daemon binary.
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "DHCP", "TFTP", "UDP", "NetworkAddresses", "BootHTTP", "BootMenus", "InstallJournal", "garage-pxe", "TestSupport"]),
        .testTarget(name: "BootMenusTests", dependencies: ["BootMenus", "NetworkAddresses", "YAMLDiagnostics"]),
        // The diagnostic image's build from Debian packages runs the real binary (TestSupport).
        .testTarget(name: "ImagesTests", dependencies: ["Images", "garage-pxe", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // Reports, health grade, the per-PC fold, CSV, certificates signed and verified
        // (and refused after a one-byte change); the CLI on a real private journald.
        .testTarget(name: "MachineRecordsTests",
                    dependencies: ["Inventory", "MachineRecords", "Certificates", "InstallJournal", "garage-pxe", "TestSupport"]),
        // The journal written and read back through a private systemd-journald the tests
        // start in their own mount namespace, and the real daemon's events.
        .testTarget(name: "InstallJournalTests", dependencies: ["InstallJournal", "garage-pxe", "TestSupport"],
                    exclude: ["private-journald.sh", "http-flood.py"]),
        // Real HTTP clients (curl) against the real server and the real daemon binary; route
        // logic also through HummingbirdTesting's router framework, where a socket adds nothing.
        // The bench page: its JSON API, and the page in a real headless Chromium (driven by the .py).
        .testTarget(name: "BootHTTPTests", dependencies: ["BootHTTP", "BootMenus", "NetworkAddresses", "Images", "InstallJournal", "Inventory", "MachineRecords",
                                                          "Certificates", "garage-pxe", "TestSupport",
                                                          .product(name: "HummingbirdTesting", package: "hummingbird")],
                    exclude: ["bench-page-chromium.py"]),
        // Shared by the tests that run the real daemon: namespaces, processes, notify socket.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The daemon under systemd's eyes: unit checks, sd_notify, privilege drop.
        .testTarget(name: "ServiceTests", dependencies: ["garage-pxe", "TestSupport"]),
        // The built .deb installed with apt into a booted systemd-nspawn container and run
        // by systemctl (scripts/systemd-container); runs after `make deb`, in its own phase.
        .testTarget(name: "PackageTests", dependencies: ["TestSupport"]),
        // Drives the built garage-pxe binary with real firmware in QEMU (scripts/e2e).
        .testTarget(name: "EndToEndTests", dependencies: ["garage-pxe"]),
    ],
    swiftLanguageModes: [.v6]
)
