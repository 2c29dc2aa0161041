// The TFTP side of Debian's signed chain for UEFI PCs (Secure Boot on or off): the three
// paths the chain asks for, all under debian-installer/amd64/ (ProxySettings):
// - bootnetx64.efi, the Microsoft-signed shim named in the proxy offer;
// - grubx64.efi, Debian's signed GRUB, which shim loads from the folder it came from;
// - grub/grub.cfg, which that GRUB reads under its built-in prefix: rendered by garage-pxe
//   from the menus (bootstrap.grub), it identifies the machine and sources its menu over HTTP;
// - grub/x86_64-efi/{command,crypto,fs,terminal}.lst, the module lists that GRUB reads as it
//   starts (as Debian's own netboot tree serves them).
// These come from the image named by bootfiles.signed_chain_image (checksummed in its
// image.json at import), read at each request, so an image imported again or a reload that
// names another image takes effect without a restart.
// Shim also asks, beside itself, for optional files that Debian's image does not have
// (`expectedProbe`): those 404s are expected, and logged as such rather than as refusals.

import BootHTTP
import DHCP
import Foundation
import Images
import TFTP

final class SignedChainFiles: @unchecked Sendable {
    private let lock = NSLock()
    private var folder: String

    init(config: GaragePXEConfig) { folder = Self.folder(config) }

    static func folder(_ config: GaragePXEConfig) -> String {
        config.imagesDirectory + "/" + config.bootfiles.signedChainImage
    }

    /// After a configuration reload.
    func update(_ config: GaragePXEConfig) {
        lock.lock()
        folder = Self.folder(config)
        lock.unlock()
    }

    private var currentFolder: String {
        lock.lock()
        defer { lock.unlock() }
        return folder
    }

    /// The GRUB module lists, by their path under the TFTP root.
    static let grubListPaths = DebianImport.grubListNames.map { ProxySettings.signedChainFolder + "/" + $0 }

    func register(on server: TFTPServer, content: BootContentStore) {
        for path in [ProxySettings.signedShimPath, ProxySettings.signedGRUBPath, ProxySettings.signedGRUBConfigPath] + Self.grubListPaths {
            server.register(virtualFile: path) { [weak self] _ in self?.contents(of: path, content: content) }
        }
    }

    /// One of the chain's files by its path under the TFTP root (the HTTP side, for UEFI
    /// HTTP boot, serves the same paths); nil for any other path, or one the image lacks.
    func contents(of path: String, content: BootContentStore) -> [UInt8]? {
        switch path {
        case ProxySettings.signedShimPath, ProxySettings.signedGRUBPath:
            let name = path == ProxySettings.signedShimPath ? DebianImport.shimName : DebianImport.grubName
            return FileManager.default.contents(atPath: currentFolder + "/" + name).map { [UInt8]($0) }
        case _ where Self.grubListPaths.contains(path):
            let name = path.dropFirst(ProxySettings.signedChainFolder.count + 1)
            return FileManager.default.contents(atPath: currentFolder + "/" + name).map { [UInt8]($0) }
        case ProxySettings.signedGRUBConfigPath:
            let snapshot = content.snapshot
            let text = snapshot.menus.map { $0.renderGRUBBootstrap(server: snapshot.server) ?? Self.message("le dossier des menus n'a pas de modeles GRUB (bootstrap.grub)") }
                ?? Self.message("les menus du serveur contiennent des erreurs (garage-pxe check)")
            return Array(text.utf8)
        default:
            return nil
        }
    }

    /// Why a request for `path` (under the TFTP root, no leading slash) is one the chain
    /// makes on every boot and does without, or nil. Shim (15.8 on) looks beside itself
    /// for SBAT revocation updates (`revocations_sbat.efi`, `revocations_sku.efi`) and an
    /// extra certificate (`shim_certificate_0.efi`); Debian's netboot image ships none, and
    /// shim goes on with what it carries. Only these names in the chain's own folder: any
    /// other missing file stays a refusal worth an admin's eye.
    static func expectedProbe(_ path: String) -> String? {
        let prefix = ProxySettings.signedChainFolder + "/"
        guard path.hasPrefix(prefix) else { return nil }
        let name = path.dropFirst(prefix.count)
        guard !name.contains("/"), name.hasSuffix(".efi"), name.hasPrefix("revocations") || name.hasPrefix("shim_certificate") else { return nil }
        return "shim's optional file (SBAT revocations or an extra certificate); Debian's image has none and shim does without"
    }

    /// A grub.cfg that says what is wrong on the PC's screen, then leaves to the firmware.
    static func message(_ text: String) -> String {
        "echo 'garage-pxe: \(text.replacingOccurrences(of: "'", with: " "))'\nsleep 30\nexit\n"
    }
}
