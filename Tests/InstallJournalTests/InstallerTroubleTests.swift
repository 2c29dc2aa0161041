// Which installer lines mean "stuck" or "failed", on the lines the real installer sent
// (Tests/Fixtures/installer-syslog/), and the stall watch's silences on a hand-moved clock.

import Foundation
import InstallJournal
import Testing

@Suite("installer troubles")
struct InstallerTroubleTests {
    /// One busybox datagram, as the installer's syslogd forwards it.
    static func line(_ text: String) throws -> InstallerSyslogLine {
        try InstallerSyslog.parse(Array(text.utf8)).get()
    }

    @Test("the offline-mirror capture: only its last line, choose-mirror's warning before the bad-mirror question, is a stall")
    func offlineMirrorCapture() throws {
        let lines = try InstallerSyslogFixture.lines("bookworm-bios-offline-mirror.txt")
        let troubles = lines.enumerated().compactMap { index, line in InstallerSyslog.trouble(line).map { (index, $0) } }
        #expect(troubles.count == 1)
        #expect(troubles.first?.0 == lines.count - 1, "the capture ends on it: the installer then waits on the question")
        #expect(troubles.first?.1 == InstallerTrouble(.stalled, .mirror, "le miroir ne propose pas la version demandée (bookworm)"))
        // Its INFO line just before ("mirror does not have any suite symlinks") is not one.
        #expect(lines.contains { $0.message.contains("suite symlinks") })
    }

    /// The lab's own dialog, captured (scripts/e2e/capture-installer-syslog.sh --through-proxy):
    /// the installer reaches the archive, anna gets 404 for apt-mirror-setup's .udeb, logs
    /// its warning and waits on "Réessayer / Changer de miroir / Annuler"; nothing follows.
    @Test("the anna capture: only its last line, anna's package retrieval failure, is a stall (component download)")
    func annaCapture() throws {
        let lines = try InstallerSyslogFixture.lines("bookworm-bios-anna-retrieval-failed.txt")
        let troubles = lines.enumerated().compactMap { index, line in InstallerSyslog.trouble(line).map { (index, $0) } }
        #expect(troubles.count == 1)
        #expect(troubles.first?.0 == lines.count - 1, "the capture ends on it: the installer then waits on the dialog")
        #expect(troubles.first?.1 == InstallerTrouble(.stalled, .componentDownload, "téléchargement d'un composant depuis le miroir a échoué"))
        #expect(lines.last?.text.hasPrefix("anna[") == true && lines.last?.severity == 4)
        // The choose-mirror step went through the archive this time: no mirror trouble.
        #expect(lines.contains { $0.message.contains("Menu item 'download-installer' selected") })
    }

    @Test("the Debian 13 capture: trixie's main-menu steps are bookworm's; only its last line, net-retriever's bad Release signature, is a stall")
    func trixieCapture() throws {
        let lines = try InstallerSyslogFixture.lines("trixie-bios-release-bad-signature.txt")
        let steps = lines.compactMap(InstallerSyslog.milestone)
        #expect(steps == [
            .step(step: "network-preseed", component: "network-preseed"), .step(step: "localechooser", component: "localechooser"),
            .step(step: "console-setup-udeb", component: "console-setup-udeb"), .step(step: "mirror", component: "choose-mirror"),
            .step(step: "download-installer", component: "download-installer"),
        ])
        let troubles = lines.enumerated().compactMap { index, line in InstallerSyslog.trouble(line).map { (index, $0) } }
        #expect(troubles.count == 1)
        #expect(troubles.first?.0 == lines.count - 1)
        #expect(troubles.first?.1 == InstallerTrouble(.stalled, .componentDownload, "signature du fichier Release du miroir refusée"))
    }

    @Test("the failed-step capture: main-menu's failure is the milestone's, no other line is a trouble")
    func failedStepCapture() throws {
        let lines = try InstallerSyslogFixture.lines("bookworm-bios-failed-step.txt")
        #expect(lines.allSatisfy { InstallerSyslog.trouble($0) == nil })
        let failures = lines.compactMap(InstallerSyslog.milestone).filter { if case .failed = $0 { true } else { false } }
        #expect(failures.count == 1)
    }

    /// The lines of the installer's code (bookworm): anna's and choose-mirror's strings
    /// are the ones in the netboot initrd's binaries, with the `WARNING **: ` di_log puts
    /// in front (as choose-mirror's line in the offline-mirror capture shows); the shell
    /// components' are their `logger -t` lines.
    @Test("known dialog lines stall, known fatal lines fail, each with its French reason", arguments: [
        ("<12>Dec  6 05:41:07 anna[1833]: WARNING **: package retrieval failed\n",
         InstallerTrouble(.stalled, .componentDownload, "téléchargement d'un composant depuis le miroir a échoué")),
        ("<12>Dec  6 05:41:07 anna[1833]: WARNING **: bad sha256sum\n",
         InstallerTrouble(.stalled, .componentDownload, "composant téléchargé depuis le miroir corrompu (somme de contrôle fausse)")),
        ("<12>Dec  6 05:41:07 choose-mirror[3179]: WARNING **: broken mirror: invalid Suite or Codename in Release file for stable\n",
         InstallerTrouble(.stalled, .mirror, "miroir défectueux : fichier Release invalide")),
        ("<15>Dec  6 05:41:07 choose-mirror[3179]: DEBUG: architecture not supported by selected mirror\n",
         InstallerTrouble(.stalled, .mirror, "le miroir ne propose pas l'architecture de ce PC")),
        ("<13>Dec  6 05:41:07 base-installer: error: exiting on error base-installer/debootstrap-failed\n",
         InstallerTrouble(.stalled, .baseSystem, "l'installation du système de base (debootstrap) a échoué")),
        ("<13>Dec  6 05:41:07 base-installer: error: exiting on error base-installer/kernel/failed-install\n",
         InstallerTrouble(.stalled, .baseSystem, "l'installation du noyau a échoué")),
        ("<13>Dec  6 05:41:07 grub-installer: info: Calling 'apt-install grub-pc' failed\n",
         InstallerTrouble(.stalled, .bootloader, "téléchargement du paquet GRUB depuis le miroir a échoué")),
        ("<13>Dec  6 05:41:07 grub-installer: error: Running 'grub-install  --force \"/dev/sda\"' failed.\n",
         InstallerTrouble(.failed, .bootloader, "GRUB n'a pas pu être installé sur le disque")),
        ("<13>Dec  6 05:41:07 grub-installer: error: Running 'chroot /target update-grub' failed.\n",
         InstallerTrouble(.failed, .bootloader, "la configuration de GRUB n'a pas pu être écrite (update-grub)")),
    ])
    func knownLines(text: String, expected: InstallerTrouble) throws {
        #expect(InstallerSyslog.trouble(try Self.line(text)) == expected)
    }

    @Test("look-alikes are not troubles: another tag, an info line, a line without a tag", arguments: [
        "<13>Nov 22 03:32:56 anna-install: Queueing udeb apt-mirror-setup for later installation\n",
        "<14>Nov 22 03:33:08 choose-mirror[3179]: INFO: mirror does not have any suite symlinks\n",
        "<14>Nov 22 03:33:08 main-menu[258]: (process:99): package retrieval failed\n",
        "<12>package retrieval failed\n",
        "<13>Dec  6 05:41:07 grub-installer: info: Installing grub on '/dev/sda'\n",
    ])
    func lookAlikes(text: String) throws {
        #expect(InstallerSyslog.trouble(try Self.line(text)) == nil)
    }

    @Test("silence: stalled once after the limit, resumed by the next line; a dialog line stalls at once; a closed install is not watched")
    func watch() {
        var watch = InstallerStallWatch(silenceLimit: 300)
        let mac = "52:54:00:7c:1b:d8", other = "52:54:00:00:00:02"
        #expect(watch.line(from: mac, at: 1000, trouble: nil) == nil)
        #expect(watch.line(from: other, at: 1100, trouble: nil) == nil)
        #expect(watch.silences(at: 1299).isEmpty)
        #expect(watch.silences(at: 1300) == [mac])
        #expect(watch.isStalled(mac) && !watch.isStalled(other))
        #expect(watch.silences(at: 1400) == [other], "each machine once, the first not again")
        #expect(watch.line(from: mac, at: 1401, trouble: nil) == .resumed)
        #expect(watch.line(from: mac, at: 1402, trouble: nil) == nil)
        let dialog = InstallerTrouble(.stalled, .componentDownload, "téléchargement d'un composant depuis le miroir a échoué")
        #expect(watch.line(from: mac, at: 1403, trouble: dialog) == .stalled(dialog))
        #expect(watch.line(from: mac, at: 1404, trouble: dialog) == nil, "still the same stall")
        #expect(watch.silences(at: 9999) == [], "both stalled already")
        #expect(watch.line(from: mac, at: 10_000, trouble: nil) == .resumed)
        watch.close(mac)
        #expect(!watch.isWatched(mac))
        #expect(watch.silences(at: 99_999).isEmpty)
        watch.silenceLimit = 10
        watch.restore(mac, stalled: false, at: 100_000)
        #expect(watch.silences(at: 100_010) == [mac], "a changed limit applies to the next check")
    }

    @Test("the silence reason says how long, in minutes when whole")
    func silenceReason() {
        #expect(InstallerSyslog.silenceTrouble(seconds: 300).reason == "aucune ligne de l'installateur depuis 5 min (une question attend peut-être à l'écran)")
        #expect(InstallerSyslog.silenceTrouble(seconds: 90).reason.contains("depuis 90 s"))
        #expect(InstallerSyslog.silenceTrouble(seconds: 90).cause == .silence)
    }
}
