import Foundation
import Testing
import TestSupport

/// Issue 16, TFTP slots, against the real daemon binary with its default limits (64
/// transfers, 4 per client, 30 s of silence at most): read requests asking `timeout 255`
/// that never ACK. A host on the daemon's own link (TFTP is served there only) holds them;
/// a real client (tftp-hpa) on that link asks for its boot loader meanwhile.
@Suite("hostile TFTP, real daemon", .serialized)
struct HostileTFTPDaemonTests {
    /// Sends COUNT read requests for FILE with `timeout 255`, one socket each, from the
    /// given source addresses in turn, never ACKing; prints `held N busy N other N`.
    static let hoarder = """
        import socket, sys
        server, count, addresses = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
        request = b"\\x00\\x01undionly.kpxe\\x00octet\\x00timeout\\x00255\\x00"
        held = busy = other = 0
        keep = []
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((addresses[i % len(addresses)], 0))
            s.settimeout(10)
            s.sendto(request, (server, 69))
            try:
                answer, _ = s.recvfrom(1024)
            except OSError:
                answer = b""
            if answer[:2] == b"\\x00\\x06":
                held += 1
            elif answer[:2] == b"\\x00\\x05" and b"busy" in answer:
                busy += 1
            else:
                other += 1
            keep.append(s)
        print("held", held, "busy", busy, "other", other, flush=True)
        """

    @Test("64 silent requests with 'timeout 255': from one host only 4 slots held, a real tftp client served at once; from 16 addresses every slot held, given back at the 30 s silence ceiling, and the client served then")
    func silentRequests() throws {
        let (out, context) = try PrivateJournald.run(prefix: "gpxht", """
        hoarder=$5
        \(BenchPCs.functions)
        tftpns="$ns-tftp"; ip netns add "$tftpns"; pcns[tftp]=$tftpns
        ip -n "$ns" link set eth1 down; ip -n "$ns" link set eth1 name tf0; ip -n "$ns" link set tf0 netns "$tftpns"
        ip -n "$tftpns" addr add 10.99.0.9/24 dev tf0; ip -n "$tftpns" link set tf0 up; ip -n "$tftpns" link set lo up
        for a in $(seq 10 25); do ip -n "$tftpns" addr add "10.99.0.$a/24" dev tf0; done
        printf '%s\\n' "$hoarder" >"$images/../hoarder.py"
        now() { date +%s%N; }
        # The real client, from 10.99.0.9, asked again each second until it gets the file (at most 120 tries).
        fetch() {
            local t0 tries=0; t0=$(now); rm -f "$images/../got"
            while [ $tries -lt 120 ]; do
                tries=$((tries + 1))
                ip netns exec "$tftpns" tftp 10.99.0.1 -m binary -c get undionly.kpxe "$images/../got" >/dev/null 2>&1
                cmp -s "$images/../got" /usr/lib/ipxe/undionly.kpxe && break
                sleep 1
            done
            echo "tries $tries ms $(( ($(now) - t0) / 1000000 ))"
            cmp -s "$images/../got" /usr/lib/ipxe/undionly.kpxe && echo same
        }
        start
        # One host, one address: the per-client cap.
        echo "=== one-host"; ip netns exec "$tftpns" python3 "$images/../hoarder.py" 10.99.0.1 64 10.99.0.10 &
        hoarderpid=$!
        wait "$hoarderpid"
        echo "=== one-host-client"; fetch
        # Sixteen addresses, four each: every slot (once the first host's four ended at the 30 s ceiling).
        sleep 33
        echo "=== many"; t0=$(now); ip netns exec "$tftpns" python3 "$images/../hoarder.py" 10.99.0.1 64 $(seq -f '10.99.0.%g' 10 25)
        echo "=== many-client"; fetch; echo "since the slots were taken: $(( ($(now) - t0) / 1000000 )) ms"
        stop
        echo "=== daemon"; cat "$log"
        """, extra: [Self.hoarder])
        func count(_ key: String) -> Int { stopLineCount(key, in: out["daemon"]) }
        func tries(_ section: String) -> Int {
            (out[section] ?? "").split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? -1
        }
        print("hostile TFTP: one host \(out["one-host"] ?? "?")→ client \(out["one-host-client"] ?? "?"); 16 addresses \(out["many"] ?? "?")→ client \(out["many-client"] ?? "?")")
        // One host: 4 slots, 60 refused; the real client gets its file at its first try.
        #expect(out["one-host"] == "held 4 busy 60 other 0\n", "\(context)")
        #expect(out["one-host-client"]?.contains("same") == true && tries("one-host-client") == 1, "\(context)")
        // Sixteen addresses: all 64 slots; the client is refused until the silence ceiling
        // gives them back (not the client's 255 s times its retries), then served.
        #expect(out["many"] == "held 64 busy 0 other 0\n", "\(context)")
        #expect(out["many-client"]?.contains("same") == true && tries("many-client") > 1, "\(context)")
        #expect(count("tftp_refused_client_busy") == 60, "\(context)")
        #expect(count("tftp_timed_out") >= 68, "every silent transfer ended at the ceiling: \(context)")
    }
}
