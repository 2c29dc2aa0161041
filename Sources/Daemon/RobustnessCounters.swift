// The TFTP and HTTP drop/refusal counters as log metadata with stable keys, for the line
// the daemon logs when it stops (the proxyDHCP counters have their own keys there).

import BootHTTP
import Logging
import TFTP

public enum RobustnessCounters {
    public static func metadata(tftp: TFTPServerStatistics?, http: BootHTTPStatistics.Counts) -> Logger.Metadata {
        var m: Logger.Metadata = [:]
        if let tftp {
            m["tftp_received"] = "\(tftp.received)"
            m["tftp_malformed"] = "\(tftp.malformed)"
            m["tftp_stray"] = "\(tftp.stray)"
            m["tftp_duplicate_requests"] = "\(tftp.duplicateRequests)"
            for (name, count) in tftp.refused { m["tftp_refused_\(name.replacingOccurrences(of: "-", with: "_"))"] = "\(count)" }
            m["tftp_started"] = "\(tftp.started)"
            for (name, count) in tftp.finished { m["tftp_\(name.replacingOccurrences(of: "-", with: "_"))"] = "\(count)" }
            m["tftp_ignored_packets"] = "\(tftp.ignoredTransferPackets)"
            m["tftp_stranger_packets"] = "\(tftp.strangerTransferPackets)"
        }
        m["http_connections"] = "\(http.connections)"
        for (status, count) in http.refused { m["http_refused_\(status)"] = "\(count)" }
        m["http_closed_before_request"] = "\(http.closedBeforeRequest)"
        m["http_malformed_connections"] = "\(http.malformedConnections)"
        m["http_over_connection_cap"] = "\(http.overConnectionCap)"
        m["http_evicted_at_connection_cap"] = "\(http.evictedAtConnectionCap)"
        m["http_request_deadline_closes"] = "\(http.requestDeadlineCloses)"
        m["http_slow_reader_closes"] = "\(http.slowReaderCloses)"
        m["http_event_streams_refused"] = "\(http.eventStreamsRefused)"
        m["http_expected_probes"] = "\(http.expectedProbes)"
        return m
    }
}
