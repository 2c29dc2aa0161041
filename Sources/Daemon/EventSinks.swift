// Where the services' events go. The daemon picks one sink at start: the install journal
// (under systemd, or --events journal) or log lines (--events log, a run by hand). The
// proxy, TFTP and HTTP callbacks and the daemon's own start/reload/stop hand every event
// to that sink and know neither. Each event is mapped once per sink: the journal's fields
// in InstallEventRecorder, the log lines' keys below. Text from the network is escaped
// once, at the end of each sink (LineLogHandler for lines, JournalWriter for the journal),
// never at a call site.

import BootHTTP
import DHCP
import InstallJournal
import Logging
import NetworkAddresses
import TFTP
import UDP

public protocol EventSink: Sendable {
    func proxy(_ event: ProxyEvent)
    func tftp(_ report: TFTPTransferReport)
    func http(_ event: BootHTTPEvent)
    /// The daemon's own life: started, reloaded, reload refused, stopping.
    func daemon(_ kind: InstallEventKind, message: String, reason: String?)
}

extension EventSink {
    public func daemon(_ kind: InstallEventKind, message: String) { daemon(kind, message: message, reason: nil) }
}

/// Every event as one log line. The daemon's own life is logged by the daemon itself
/// (with its settings as metadata), so `daemon` adds nothing here.
public struct LogLineEvents: EventSink {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }

    public func proxy(_ event: ProxyEvent) { ProxyEventLines.log(event, to: logger) }
    public func tftp(_ report: TFTPTransferReport) { TFTPEventLines.log(report, to: logger) }
    public func http(_ event: BootHTTPEvent) { BootHTTPEventLines.log(event, to: logger) }
    public func daemon(_ kind: InstallEventKind, message: String, reason: String?) {}
}

/// Machine events into the install journal. What the journal does not record (a proxy's
/// silence, a refused HTTP path, the bootstrap script) stays a log line.
public struct JournalEvents: EventSink {
    let recorder: InstallEventRecorder
    let lines: LogLineEvents

    public init(recorder: InstallEventRecorder, logger: Logger) {
        self.recorder = recorder
        self.lines = LogLineEvents(logger: logger)
    }

    public func proxy(_ event: ProxyEvent) {
        if case .answered(let summary, let bootfile, _, _) = event {
            recorder.proxyAnswered(summary, bootfile: bootfile)
        } else {
            lines.proxy(event)
        }
    }

    /// An expected probe is no machine event (tftp.failed would say the PC failed): its
    /// debug line only.
    public func tftp(_ report: TFTPTransferReport) {
        if TFTPEventLines.expectedProbe(report) != nil { lines.tftp(report) } else { recorder.tftp(report) }
    }

    public func http(_ event: BootHTTPEvent) {
        // A UEFI HTTP boot PC fetches shim, GRUB and grub.cfg before any request names it:
        // the neighbour table does.
        if !recorder.http(event, neighbourMAC: { GaragePXEDaemon.neighbourMAC($0)?.description }) { lines.http(event) }
    }

    public func daemon(_ kind: InstallEventKind, message: String, reason: String?) {
        recorder.daemon(kind, message: message, reason: reason)
    }
}

/// Proxy events as log lines with stable keys, one line per decision.
enum ProxyEventLines {
    static func metadata(_ s: ProxyRequestSummary, interface: String?) -> Logger.Metadata {
        var m: Logger.Metadata = [
            "mac": "\(s.mac?.description ?? "-")", "port": "\(s.port)",
            "type": "\(s.messageType?.description ?? "-")",
            "arch": "\(s.architecture?.description ?? "-")",
            "vendor_class": "\(s.vendorClass ?? "-")",
        ]
        if let uuid = s.uuid { m["uuid"] = "\(uuid)" }
        if !s.userClasses.isEmpty { m["user_class"] = "\(s.userClasses.joined(separator: ","))" }
        if let interface { m["interface"] = "\(interface)" }
        return m
    }

    static func log(_ event: ProxyEvent, to logger: Logger) {
        switch event {
        case .answered(let s, let bootfile, let replyTo, let nic):
            var m = metadata(s, interface: nic)
            m["bootfile"] = "\(bootfile)"
            m["reply_to"] = "\(replyTo)"
            logger.info("dhcp.offer", metadata: m)
        case .ignored(let reason, let s, let nic):
            var m = metadata(s, interface: nic)
            m["reason"] = "\(reason)"
            // Non-PXE traffic is the LAN's normal DHCP: debug, not noise. Unknown
            // architectures are worth an admin's eye.
            switch reason {
            case .unknownArchitecture, .architectureNotConfigured:
                logger.warning("dhcp.ignored", metadata: m)
            default:
                logger.debug("dhcp.ignored", metadata: m)
            }
        case .malformed(let error, let from, let nic):
            logger.notice("dhcp.malformed", metadata: ["from": "\(from)", "error": "\(error)", "interface": "\(nic ?? "-")"])
        case .sendFailed(let error, let s):
            var m = metadata(s, interface: nil)
            m["error"] = "\(error)"
            logger.error("dhcp.send-failed", metadata: m)
        }
    }
}

/// HTTP events as log lines with stable keys, named as their journal events are.
enum BootHTTPEventLines {
    static func log(_ event: BootHTTPEvent, to logger: Logger) {
        switch event {
        case .bootstrapSent(let remote):
            logger.info("http.bootstrap", metadata: ["remote": "\(remote)"])
        case .menuShown(let machine, let entry, let remote, _):
            logger.info("menu.shown", metadata: ["mac": "\(machine.mac)", "platform": "\(machine.platform.rawValue)", "default_entry": "\(entry ?? "-")", "remote": "\(remote)"])
        case .entryChosen(let machine, let entry, let remote, _, _):
            logger.info("menu.chosen", metadata: ["mac": "\(machine.mac)", "entry": "\(entry)", "remote": "\(remote)"])
        case .fileSent(let path, let bytes, let range, let remote):
            var m: Logger.Metadata = ["path": "\(path)", "bytes": "\(bytes)", "remote": "\(remote)"]
            if let range { m["range"] = "\(range)" }
            logger.info("image.sent", metadata: m)
        case .preseedSent(let machine, let entry, let remote):
            logger.info("installer.started", metadata: ["mac": "\(machine.mac)", "entry": "\(entry)", "remote": "\(remote)"])
        case .progress(let mac, let stage, let remote):
            logger.notice("installer.progress", metadata: ["mac": "\(mac)", "stage": "\(stage)", "remote": "\(remote)"])
        case .preseedRead(let machine, let entry, let remote):
            logger.info("preseed.read", metadata: ["mac": "\(machine.mac)", "entry": "\(entry)", "remote": "\(remote)", "note": "no install token: nothing recorded"])
        case .identityNotStored(let mac, let remote):
            logger.notice("identity.not-stored", metadata: ["mac": "\(mac)", "remote": "\(remote)", "reason": "DMI fields from an address that is not this MAC's (neighbour table)"])
        case .rearmed(let mac, let by, let remote):
            logger.notice("machine.rearmed", metadata: ["mac": "\(mac)", "by": "\(by)", "remote": "\(remote)"])
        case .menusUnavailable(let path, let reason, let remote):
            logger.warning("menu.unavailable", metadata: ["path": "\(path)", "reason": "\(reason)", "remote": "\(remote)"])
        case .refused(let path, let status, let reason, let remote):
            logger.notice("http.refused", metadata: ["path": "\(path)", "status": "\(status)", "reason": "\(reason)", "remote": "\(remote)"])
        case .probeNotFound(let path, let reason, let remote):
            logger.debug("http.probe", metadata: ["path": "\(path)", "status": "404", "reason": "\(reason)", "remote": "\(remote)"])
        case .inventoried(let mac, let report, let remote):
            logger.notice("machine.inventoried", metadata: ["mac": "\(mac)", "serial": "\(report.machine.serial)", "disks": "\(report.disks.count)", "remote": "\(remote)"])
        case .diskWipeReported(let mac, let report, let remote):
            let message: Logger.Message = report.erased ? "disk.wiped" : "disk.wipe.failed"
            logger.log(level: report.erased ? .notice : .error, message,
                       metadata: ["mac": "\(mac)", "disk_serial": "\(report.serial)", "method": "\(report.method.rawValue)",
                                  "method_reason": "\(report.methodReason ?? "")",
                                  "verification": "\(report.verification.rawValue)", "reason": "\(report.reason)", "remote": "\(remote)"])
        }
    }
}

/// TFTP reports as log lines, one line per request whatever became of it.
enum TFTPEventLines {
    static func metadata(_ r: TFTPTransferReport) -> Logger.Metadata {
        [
            "file": "\(r.file)", "client": "\(r.client)",
            "mac": "\(r.mac?.description ?? "-")",
            "bytes": "\(r.bytes)", "blksize": "\(r.blockSize)", "windowsize": "\(r.windowSize)",
            "duration_ms": "\(r.duration.millisecondsText)", "retransmissions": "\(r.retransmissions)",
            "outcome": "\(r.outcome)",
        ]
    }

    /// Why a refusal is one the signed chain makes on every boot (shim's optional files,
    /// `SignedChainFiles.expectedProbe`): not found, and expected. Nil for any other report.
    static func expectedProbe(_ report: TFTPTransferReport) -> String? {
        guard case .refused(.fileNotFound, _) = report.outcome else { return nil }
        return SignedChainFiles.expectedProbe(report.file)
    }

    static func log(_ report: TFTPTransferReport, to logger: Logger) {
        let m = metadata(report)
        switch report.outcome {
        case .completed:
            logger.info("tftp.sent", metadata: m)
        case .abortedByClient:
            // EDK2 reads the size from the OACK and aborts on purpose before downloading.
            logger.info("tftp.aborted", metadata: m)
        case .timedOut:
            logger.warning("tftp.timeout", metadata: m)
        case .failed:
            logger.error("tftp.failed", metadata: m)
        case .refused(let code, _):
            if let why = expectedProbe(report) {
                var m = m
                m["reason"] = "\(why)"
                logger.debug("tftp.probe", metadata: m)
            } else if code == .fileNotFound {
                logger.notice("tftp.refused", metadata: m)
            } else {
                logger.warning("tftp.refused", metadata: m)
            }
        }
    }
}
