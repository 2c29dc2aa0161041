#!/usr/bin/env python3
"""Print the DHCP/PXE packets of a classic pcap file as a compact table.

Why: the golden captures under Tests/Fixtures/dhcp/ are documented with the
exact bytes of the options a PXE server cares about (53/60/77/93/94/97/175/43,
plus 54/66/67 and the BOOTP header fields). tshark -V is verbose and elides
long values; this prints every byte, with no dependencies beyond python3.

Usage: dhcp-dump.py FILE.pcap [--all-options]
Only classic pcap (magic a1b2c3d4 / d4c3b2a1, Ethernet link type) is read.
"""
import struct
import sys

MSG = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK",
       6: "NAK", 7: "RELEASE", 8: "INFORM"}
KEY_OPTS = [53, 54, 60, 77, 93, 94, 97, 175, 43, 66, 67, 50, 55]


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        sys.exit(f"{path}: not a classic pcap file (magic {magic.hex()})")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    off = 24
    n = 0
    t0 = None
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        n += 1
        t = sec + usec / 1e6
        if t0 is None:
            t0 = t
        yield n, t - t0, pkt


def parse_options(b):
    opts = []
    i = 0
    while i < len(b):
        code = b[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            break
        ln = b[i + 1]
        opts.append((code, b[i + 2:i + 2 + ln]))
        i += 2 + ln
    return opts


def ip(b):
    return ".".join(str(x) for x in b)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    all_opts = "--all-options" in sys.argv[2:]
    for n, t, pkt in read_pcap(path):
        if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
            print(f"#{n} t={t:.3f} non-IPv4 frame")
            continue
        smac = pkt[6:12].hex(":")
        dmac = pkt[0:6].hex(":")
        iph = pkt[14:]
        ihl = (iph[0] & 0x0F) * 4
        proto = iph[9]
        src, dst = ip(iph[12:16]), ip(iph[16:20])
        if proto != 17:
            print(f"#{n} t={t:.3f} {src} -> {dst} proto {proto} (not UDP)")
            continue
        udp = iph[ihl:]
        sport, dport = struct.unpack(">HH", udp[:4])
        bootp = udp[8:]
        if len(bootp) < 240 or bootp[236:240] != b"\x63\x82\x53\x63":
            print(f"#{n} t={t:.3f} {src}:{sport} -> {dst}:{dport} UDP (not DHCP)")
            continue
        op, _htype, _hlen, hops = bootp[0:4]
        xid = bootp[4:8].hex()
        secs, flags = struct.unpack(">HH", bootp[8:12])
        ciaddr, yiaddr, siaddr, giaddr = (ip(bootp[12 + 4 * k:16 + 4 * k]) for k in range(4))
        chaddr = bootp[28:34].hex(":")
        sname = bootp[44:108].split(b"\0", 1)[0].decode("latin-1")
        file_ = bootp[108:236].split(b"\0", 1)[0].decode("latin-1")
        opts = parse_options(bootp[240:])
        od = dict(opts)
        mtype = MSG.get(od.get(53, b"\0")[0], "?")
        print(f"#{n} t={t:.3f} {mtype} {src}:{sport} -> {dst}:{dport} "
              f"eth {smac} -> {dmac}")
        print(f"    op={op} xid={xid} secs={secs} flags=0x{flags:04x} hops={hops} "
              f"ciaddr={ciaddr} yiaddr={yiaddr} siaddr={siaddr} giaddr={giaddr} chaddr={chaddr}")
        if sname or file_:
            print(f"    sname={sname!r} file={file_!r}")
        print("    option order: " + " ".join(str(c) for c, _ in opts))
        for code, val in opts:
            if not all_opts and code not in KEY_OPTS:
                continue
            txt = ""
            if code in (60, 66, 67) or (code == 77 and val[:1].isalpha()):
                txt = f" {val.decode('latin-1')!r}"
            print(f"    {code:>3} len={len(val):<3} {val.hex()}{txt}")


if __name__ == "__main__":
    main()
