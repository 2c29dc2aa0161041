// The TFTP side of Debian's signed chain for UEFI PCs (Secure Boot on or off): the three
// paths the chain asks for, all under debian-installer/amd64/ (ProxySettings):
// - bootnetx64.efi, the Microsoft-signed shim named in the proxy offer;
// - grubx64.efi, Debian's signed GRUB, which shim loads from the folder it came from;
// - grub/grub.cfg, which that GRUB reads under its built-in prefix: rendered by garage-pxe
//   from the menus (bootstrap.grub), it identifies the machine and sources its menu over HTTP.
// The two binaries come from the image named by bootfiles.signed_chain_image, read at each
// request, so an image imported again or a reload that names another image takes effect
// without a restart.

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

    func register(on server: TFTPServer, content: BootContentStore) {
        for path in [ProxySettings.signedShimPath, ProxySettings.signedGRUBPath, ProxySettings.signedGRUBConfigPath] {
            server.register(virtualFile: path) { [weak self] _ in self?.contents(of: path, content: content) }
        }
    }

    /// One of the chain's three files by its path under the TFTP root (the HTTP side,
    /// for UEFI HTTP boot, serves the same paths); nil for any other path.
    func contents(of path: String, content: BootContentStore) -> [UInt8]? {
        switch path {
        case ProxySettings.signedShimPath, ProxySettings.signedGRUBPath:
            let name = path == ProxySettings.signedShimPath ? DebianImport.shimName : DebianImport.grubName
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

    /// A grub.cfg that says what is wrong on the PC's screen, then leaves to the firmware.
    static func message(_ text: String) -> String {
        "echo 'garage-pxe: \(text.replacingOccurrences(of: "'", with: " "))'\nsleep 30\nexit\n"
    }
}
