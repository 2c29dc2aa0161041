// swift-tools-version:6.0
// libFuzzer targets for garage-pxe's parsers, kept out of the root package like the
// benchmarks. `make fuzz` (Fuzz/run.sh) has SwiftPM fetch and build the dependencies here
// (Yams, Mustache) with AddressSanitizer, then compiles each target's Swift file together
// with the sources under test with `swiftc -sanitize=fuzzer,address`: SwiftPM's own
// fuzzer builds use trace-pc-guard coverage, which this toolchain's libFuzzer ignores.
// Each target is a library entry point, LLVMFuzzerTestOneInput; libFuzzer provides main.
import PackageDescription

// libFuzzer brings its own main(): the targets are compiled as libraries.
let fuzzTarget: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "garage-pxe-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The name pins the identity: otherwise it is the folder name of the checkout.
        .package(name: "garage-pxe", path: ".."),
    ],
    targets: [
        // DHCP codec + proxy policy: parse, decide on both ports, check the LAN-safety
        // properties and the byte-exact round trip.
        .executableTarget(name: "fuzz-dhcp", dependencies: [.product(name: "DHCP", package: "garage-pxe"), .product(name: "NetworkAddresses", package: "garage-pxe"), .product(name: "UDP", package: "garage-pxe")],
                          swiftSettings: fuzzTarget),
        // TFTP codec, option negotiation, name jail and one transfer's state machine fed a
        // whole conversation from the input.
        .executableTarget(name: "fuzz-tftp", dependencies: [
            .product(name: "TFTP", package: "garage-pxe"), .product(name: "UDP", package: "garage-pxe"),
            .product(name: "NetworkAddresses", package: "garage-pxe"),
        ], swiftSettings: fuzzTarget),
        // menu.yaml loader: any text gives a menu or positioned diagnostics.
        .executableTarget(name: "fuzz-menu", dependencies: [
            .product(name: "BootMenus", package: "garage-pxe"), .product(name: "YAMLDiagnostics", package: "garage-pxe"),
        ], swiftSettings: fuzzTarget),
        // The query validation every HTTP route runs before a value reaches a template.
        .executableTarget(name: "fuzz-http-query", dependencies: [.product(name: "BootMenus", package: "garage-pxe")],
                          swiftSettings: fuzzTarget),
        // The installer-syslog parser: any datagram from the LAN, parsed or refused.
        .executableTarget(name: "fuzz-syslog", dependencies: [.product(name: "InstallJournal", package: "garage-pxe")],
                          swiftSettings: fuzzTarget),
        // The Debian import's tar reader and zlib stream: any archive, read or refused.
        .executableTarget(name: "fuzz-tar", dependencies: [.product(name: "Images", package: "garage-pxe")],
                          swiftSettings: fuzzTarget),
    ],
    swiftLanguageModes: [.v6]
)
