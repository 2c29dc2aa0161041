// swift-tools-version:6.0
// garage-pxe: proxyDHCP + TFTP + HTTP network-install server for a refurbishment workshop.
// The module layout follows DESIGN.md: one module per concern, protocol logic pure.
import PackageDescription

let package = Package(
    name: "garage-pxe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "garage-pxe", targets: ["garage-pxe"]),
        // Libraries exported for the benchmark package under Benchmarks/.
        .library(name: "DHCP", targets: ["DHCP"]),
        .library(name: "UDP", targets: ["UDP"]),
        .library(name: "TFTP", targets: ["TFTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
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
        // BSD sockets on Dispatch: binding, IP_PKTINFO, broadcast, interface discovery.
        .target(name: "UDP", dependencies: ["CEpoll"]),
        // DHCP/BOOTP codec and the proxyDHCP policy: bytes and values only, no sockets, no clock.
        .target(name: "DHCP"),
        // TFTP codec, option negotiation, one transfer as a pure state machine, the root jail,
        // and the server that runs transfers on UDP sockets.
        .target(name: "TFTP", dependencies: ["UDP"]),
        // Positioned (file:line:column) reading of the YAML files admins edit.
        .target(name: "YAMLDiagnostics", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Wiring: configuration, the services on their sockets, sd_notify.
        .target(
            name: "Daemon",
            dependencies: [
                "UDP", "DHCP", "TFTP", "CSystemd", "YAMLDiagnostics",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Thin executable: argument parsing only.
        .executableTarget(
            name: "garage-pxe",
            dependencies: [
                "Daemon", "DHCP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DHCPTests", dependencies: ["DHCP"]),
        .testTarget(name: "UDPTests", dependencies: ["UDP"]),
        .testTarget(name: "TFTPTests", dependencies: ["TFTP", "UDP"]),
        // Real TFTP clients (tftp-hpa, atftp, curl) against the server, on loopback and
        // across a lossy link between network namespaces the tests create.
        .testTarget(name: "TFTPClientTests", dependencies: ["TFTP", "UDP", "garage-pxe"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "DHCP", "UDP"]),
        // Shared by the tests that run the real daemon: namespaces, processes, notify socket.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The daemon under systemd's eyes: unit checks, sd_notify, privilege drop.
        .testTarget(name: "ServiceTests", dependencies: ["garage-pxe", "TestSupport"]),
        // Drives the built garage-pxe binary with real firmware in QEMU (scripts/e2e).
        .testTarget(name: "EndToEndTests", dependencies: ["garage-pxe"]),
    ],
    swiftLanguageModes: [.v6]
)
