// `garage-pxe certificate` and `garage-pxe verify`, and the per-PC record helpers that
// `history` and `machines --csv` share. Argument parsing and printing only: the fold is
// MachineRecords', the signing and checking Certificates'.

import ArgumentParser
import Certificates
import Foundation
import Images
import InstallJournal
import MachineRecords

/// Every garage-pxe event of the journal (or of `--directory` folders), folded per PC.
func machineRecords(directories: [String]) throws -> [MachineRecord] {
    MachineRecords.fold(try readJournal { () throws(JournalReadError) in try JournalReader.read(JournalQuery(directories: directories)) })
}

func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("garage-pxe: \(message)\n".utf8))
    return ExitCode(1)
}

struct Certificate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a PC's signed erasure certificate (French HTML, or JSON), or print the site's public key.",
        discussion: "The certificate is signed with the site's Ed25519 key (paths.state/\(SiteSigningKey.fileName), made on first use). Check one with 'garage-pxe verify FILE'.")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The PC: its DMI serial, one of its MACs, or one of its disks' serials.")
    var machine: String?

    @Option(name: .long, help: "Write here instead of standard output; a name ending in .json writes the JSON form.")
    var output: String?

    @Flag(name: .customLong("json"), help: "The JSON form instead of the printable HTML.")
    var json = false

    @Flag(name: .customLong("public-key"), help: "Print the site's public key (base64) and its fingerprint, and nothing else.")
    var publicKey = false

    @Option(name: .long, help: "Read journal files from this folder; repeatable. Default: the local journal.")
    var directory: [String] = []

    func run() throws {
        let config = try options.load()
        let key: SiteSigningKey
        do {
            key = try SiteSigningKey.loadOrCreate(stateDirectory: config.stateDirectory)
        } catch {
            throw fail("\(error)")
        }
        if publicKey {
            print(key.publicKeyBase64)
            print("fingerprint: \(key.fingerprint)")
            return
        }
        guard let machine else { throw ValidationError("name the PC (serial, MAC or disk serial), or ask for --public-key") }
        guard let record = MachineRecords.find(machine, in: try machineRecords(directories: directory)) else {
            throw fail("no machine known as \(machine)")
        }
        let certificate = ErasureCertificate.make(record: record, site: config.site, issued: Date(), signingKey: key.publicKeyBase64)
        let signed = try SignedCertificate.sign(certificate, with: key)
        let asJSON = json || (output?.hasSuffix(".json") ?? false)
        let bytes = asJSON ? signed.jsonFile : Data(CertificateHTML.render(signed).utf8)
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: bytes) else { throw fail("cannot write \(output)") }
            FileHandle.standardError.write(Data("garage-pxe: certificate of \(record.key) written to \(output) (\(signed.certificate.disks.filter(\.erased).count)/\(signed.certificate.disks.count) disks erased)\n".utf8))
        } else {
            FileHandle.standardOutput.write(bytes)
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an erasure certificate (.html or .json): its signature and that not one byte was changed.")

    @OptionGroup var options: ConfigOptions

    @Argument(help: "The certificate file.")
    var file: String

    @Option(name: .customLong("public-key"), help: "The site's public key (base64, as 'garage-pxe certificate --public-key' prints it). Default: this server's own key.")
    var publicKey: String?

    func run() throws {
        let trusted: Data
        if let publicKey {
            guard let data = Data(base64Encoded: publicKey), data.count == 32 else { throw ValidationError("--public-key must be 32 bytes in base64") }
            trusted = data
        } else {
            let config = try options.load()
            let path = config.stateDirectory + "/" + SiteSigningKey.fileName
            do {
                guard let key = try SiteSigningKey.load(path: path) else {
                    throw fail("no site key at \(path): give the signer's key with --public-key")
                }
                trusted = Data(base64Encoded: key.publicKeyBase64)!
            } catch let error as SiteKeyError {
                throw fail("\(error)")
            }
        }
        guard let bytes = FileManager.default.contents(atPath: file) else { throw fail("cannot read \(file)") }
        do {
            let signed = try CertificateVerifier.verify(bytes, trustedKey: trusted)
            let c = signed.certificate
            let erased = c.disks.filter(\.erased).count
            print("OK: genuine certificate of \(LogText.escaped(c.machine.serial.isEmpty ? c.machine.macs.first ?? "-" : c.machine.serial)), site \(LogText.escaped(c.site)), issued \(c.issued), \(erased)/\(c.disks.count) disks erased; key fingerprint \(SiteSigningKey.fingerprint(publicKey: trusted))")
            for disk in c.disks where !disk.erased {
                print("  NOT erased: \(LogText.escaped(disk.serial)): \(LogText.escaped(disk.reason))")
            }
        } catch {
            print("REJECTED: \(error)")
            throw ExitCode(1)
        }
    }
}

struct ImportWipe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wipe",
        abstract: "Build the diagnostic and erase image from Debian packages (signed kernel, busybox, smartmontools, hdparm, nvme-cli, dmidecode, nwipe, the agent) and add it as an image.",
        discussion: "Runs pxe-wipe/build-image.sh (apt downloads the .debs from the host's apt sources only), then imports the result like 'import debian', each file's SHA-256 in image.json. The packages and the image built from them are kept in the cache folder: the next import reuses them while apt names the same packages, and removes those of older builds.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Image folder name.")
    var name = "diagnostic-amd64"

    @Option(help: "The builder script (default: /usr/share/garage-pxe/pxe-wipe/build-image.sh, else the repository's).")
    var builder: String?

    @Option(help: "Folder keeping the packages (debs/) and the image built from them (images/) between imports; only the latest build's are kept.")
    var cache = "/var/cache/garage-pxe/wipe"

    @Flag(help: "Build without the cache: download every package, build the image again, keep nothing.")
    var noCache = false

    func run() throws {
        let config = try options.load()
        let script = builder ?? Self.defaultBuilder()
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("garage-pxe-wipe-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, output]
        var environment = ProcessInfo.processInfo.environment
        environment["GARAGE_PXE_DEB_CACHE"] = noCache ? nil : cache + "/debs"
        environment["GARAGE_PXE_IMAGE_CACHE"] = noCache ? nil : cache + "/images"
        process.environment = environment
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw fail("the image build failed (\(script) exited \(process.terminationStatus))") }
        do {
            let image = try DebianImport(source: output, imagesDirectory: config.imagesDirectory, name: name,
                                         sha256sumsFile: output + "/SHA256SUMS").run()
            print("imported \(image.name): \(image.metadata.installerBuild ?? "") into \(image.directory), checksums verified")
        } catch {
            throw fail("import failed: \(error)")
        }
    }

    static func defaultBuilder() -> String {
        let installed = "/usr/share/garage-pxe/pxe-wipe/build-image.sh"
        if FileManager.default.fileExists(atPath: installed) { return installed }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("pxe-wipe/build-image.sh").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return installed
    }
}
