// Loads what the HTTP side serves from the configuration's folders: the image catalogue,
// then the menus checked against it. Shared by `serve` (start and reload), `check` and
// `render`, so all three judge a menus folder the same way.

import BootHTTP
import BootMenus
import DHCP
import Images
import NetworkAddresses
import YAMLDiagnostics

public enum BootContentLoader {
    public static func images(_ config: GaragePXEConfig) -> (images: [ImageRecord], problems: [String]) {
        ImageCatalogue.load(directory: config.imagesDirectory)
    }

    public static func menus(_ config: GaragePXEConfig, images: [ImageRecord]) throws(SourceDiagnostics) -> MenuSet {
        let files = Dictionary(uniqueKeysWithValues: images.map { ($0.name, BootImageFiles(kernel: $0.metadata.kernel, initrd: $0.metadata.initrd)) })
        return try MenuSet.load(directory: config.menusDirectory, images: files, imagesDirectory: config.imagesDirectory)
    }

    /// `proxy`: what InstallerProxy.decide said for this server (auto asks the network, so
    /// the caller decides when).
    public static func serverSettings(_ config: GaragePXEConfig, address: IPv4Address, proxy: InstallerProxy.Decision) -> ServerSettings {
        var settings = ServerSettings(baseURL: config.httpBaseURL(serverAddress: address), address: address.description, site: config.site,
                                      syslogPort: config.installer.syslogPort, mirrorURL: config.installer.mirror,
                                      proxyURL: proxy.url ?? "")
        settings.installOnce = config.installOnce
        return settings
    }

    /// Why install once cannot do what `install_once` asks with this menu, if it cannot.
    public static func installOnceProblem(_ config: GaragePXEConfig, menu: BootMenu) -> String? {
        guard config.installOnce.enabled else { return nil }
        if let id = config.installOnce.entry {
            return menu.entry(id) == nil ? "install_once.entry '\(id)' is not an entry of the menu: installed PCs get its first local-disk entry" : nil
        }
        return menu.entries.contains { $0.kind == .localDisk } ? nil
            : "install_once is on but the menu has no local-disk entry: installed PCs keep the usual default"
    }

    /// Everything at once, as served: images, menus, server settings.
    public static func snapshot(_ config: GaragePXEConfig, address: IPv4Address,
                                proxy: InstallerProxy.Decision) throws(SourceDiagnostics) -> (BootSnapshot, imageProblems: [String]) {
        let (images, problems) = images(config)
        let menus = try menus(config, images: images)
        return (BootSnapshot(menus: menus, server: serverSettings(config, address: address, proxy: proxy)), problems)
    }
}
