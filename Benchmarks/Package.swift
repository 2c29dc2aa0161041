// swift-tools-version:6.0
// Benchmarks for garage-pxe, kept out of the root package so that building or testing the
// server never builds them. The load generator reuses the server's own DHCP codec to build
// requests and to check replies, and its UDP module to open sockets.
import PackageDescription

let package = Package(
    name: "garage-pxe-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The name pins the identity: otherwise it is the folder name of the checkout
        // ("main" here), which differs between clones.
        .package(name: "garage-pxe", path: ".."),
    ],
    targets: [
        // Closed-loop proxyDHCP load generator: N requests outstanding, replies matched by
        // xid, latency from a monotonic clock, loss by timeout. See README.md.
        .executableTarget(
            name: "pxe-loadgen",
            dependencies: [
                .product(name: "DHCP", package: "garage-pxe"),
                .product(name: "NetworkAddresses", package: "garage-pxe"),
                .product(name: "UDP", package: "garage-pxe"),
            ]
        ),
        // Install events written to a private journald through JournalWriter: events/s.
        .executableTarget(
            name: "journal-bench",
            dependencies: [.product(name: "InstallJournal", package: "garage-pxe")]
        ),
        // The same per-request work in process, without sockets: where the CPU goes.
        .executableTarget(
            name: "pxe-policy-bench",
            dependencies: [.product(name: "DHCP", package: "garage-pxe"), .product(name: "NetworkAddresses", package: "garage-pxe")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
