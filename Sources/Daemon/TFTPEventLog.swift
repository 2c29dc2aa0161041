// Turns TFTP transfer reports into log lines with stable keys, one line per request
// (and, once the journal lands, one journal event).

import DHCP
import Logging
import TFTP
import UDP

public enum TFTPEventLog {
    public static func metadata(_ r: TFTPTransferReport) -> Logger.Metadata {
        let milliseconds = Double(r.duration.components.seconds) * 1000 + Double(r.duration.components.attoseconds) / 1e15
        return [
            "file": "\(r.file)", "client": "\(r.client)",
            "mac": "\(r.mac.flatMap { MACAddress(bytes: $0)?.description } ?? "-")",
            "bytes": "\(r.bytes)", "blksize": "\(r.blockSize)", "windowsize": "\(r.windowSize)",
            "duration_ms": "\((milliseconds * 10).rounded() / 10)", "retransmissions": "\(r.retransmissions)",
            "outcome": "\(r.outcome)",
        ]
    }

    public static func log(_ report: TFTPTransferReport, to logger: Logger) {
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
            if code == .fileNotFound { logger.notice("tftp.refused", metadata: m) } else { logger.warning("tftp.refused", metadata: m) }
        }
    }
}
