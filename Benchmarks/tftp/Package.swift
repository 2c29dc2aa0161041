// swift-tools-version:6.0
// The TFTP load generator of the benchmark (run.sh): a client of its own, written apart
// from the server's codec, so the server is never measured against its own encoder.
import PackageDescription

let package = Package(
    name: "tftp-bench",
    targets: [
        .executableTarget(name: "tftp-load", swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
    ],
    swiftLanguageModes: [.v6]
)
