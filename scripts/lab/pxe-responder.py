#!/usr/bin/env python3
"""Minimal scripted proxyDHCP responder for lab experiments (not a server).

Why: dnsmasq decides on its own what to put in a proxy offer (for UEFI it
never sends option 43). To learn how real firmware reacts to *other* answers
(option 43 "bypass discovery", boot file in the offer, no answer on :4011 ...)
we need a responder whose every byte is chosen on the command line. Run it in
the srv namespace next to a TFTP-only peer (reference-proxy.sh with
REF_MODE=tftp-only).

It answers DHCPDISCOVER on :67 with a proxy OFFER (no address: yiaddr 0) and
DHCPREQUEST on :4011 with an ACK, only for clients whose option 60 starts with
"PXEClient". Every packet received and sent is logged (one line, hex options).

Usage (inside the srv namespace):
  pxe-responder.py --iface eth0 --server 10.77.0.2 \
      --opt43 060108ff --offer-file ipxe.efi --ack-file ipxe.efi \
      --ipxe-file http://10.77.0.2:8080/boot.ipxe [--no-4011] [--offer-sname] \
      [--pidfile /tmp/PREFIX-lab/responder.pid]
  --opt43 none   omit option 43 (default)
"""
import argparse
import socket
import struct
import sys
import time

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def parse(pkt):
    if len(pkt) < 240 or pkt[236:240] != b"\x63\x82\x53\x63":
        return None
    opts = {}
    order = []
    i = 240
    while i < len(pkt):
        c = pkt[i]
        if c == 0:
            i += 1
            continue
        if c == 255:
            break
        ln = pkt[i + 1]
        opts[c] = pkt[i + 2:i + 2 + ln]
        order.append(c)
        i += 2 + ln
    return opts, order


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def build(req, mtype, args, server, file_):
    hdr = bytearray(240)
    hdr[0] = 2                      # BOOTREPLY
    hdr[1:4] = req[1:4]             # htype, hlen, hops
    hdr[4:8] = req[4:8]             # xid
    hdr[10:12] = req[10:12]         # flags (keep the client's broadcast bit)
    if mtype == 5:
        hdr[12:16] = req[12:16]     # ciaddr echoed in the :4011 ACK
    hdr[20:24] = socket.inet_aton(server)  # siaddr: TFTP server
    hdr[28:44] = req[28:44]         # chaddr
    if args.offer_sname:
        hdr[44:44 + len(server)] = server.encode()
    if file_:
        hdr[108:108 + len(file_)] = file_.encode()
    hdr[236:240] = b"\x63\x82\x53\x63"
    opts, _ = parse(req)
    out = bytes([53, 1, mtype]) + bytes([54, 4]) + socket.inet_aton(server)
    out += bytes([60, 9]) + b"PXEClient"
    if 97 in opts:
        out += bytes([97, len(opts[97])]) + opts[97]
    if args.opt43 != "none":
        o43 = bytes.fromhex(args.opt43)
        out += bytes([43, len(o43)]) + o43
    out += b"\xff"
    return bytes(hdr) + out


def describe(pkt):
    p = parse(pkt)
    if not p:
        return "not DHCP"
    opts, order = p
    mt = opts.get(53, b"?")[0]
    keys = " ".join(f"{c}={opts[c].hex()}" for c in (93, 60, 77, 43, 54) if c in opts)
    return f"type={mt} xid={pkt[4:8].hex()} flags={pkt[10:12].hex()} ciaddr={socket.inet_ntoa(pkt[12:16])} order={order} {keys}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--server", default="10.77.0.2")
    ap.add_argument("--opt43", default="none", help="hex bytes of option 43, or none")
    ap.add_argument("--offer-file", default="", help="boot file in the :67 OFFER ('' = none)")
    ap.add_argument("--ack-file", default="ipxe.efi", help="boot file in the :4011 ACK")
    ap.add_argument("--ipxe-file", default="", help="boot file for user class iPXE (offer and ACK)")
    ap.add_argument("--no-4011", action="store_true", help="ignore :4011 requests")
    ap.add_argument("--offer-sname", action="store_true", help="put the server address in sname")
    ap.add_argument("--pidfile", default="", help="write our PID here (lab.sh down stops it "
                    "if the path is in the lab's run dir)")
    args = ap.parse_args()
    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write(f"{__import__('os').getpid()}\n")

    # No SO_REUSEADDR: a second instance must fail to bind instead of
    # silently doubling every answer (broadcasts reach every bound socket).
    s67 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s67.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s67.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.iface.encode())
    s67.bind(("0.0.0.0", 67))
    s4011 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4011.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s4011.bind((args.server, 4011))
    log(f"listening :67 on {args.iface} and {args.server}:4011; opt43={args.opt43}")

    import select
    while True:
        r, _, _ = select.select([s67, s4011], [], [])
        for s in r:
            pkt, addr = s.recvfrom(2048)
            port = 67 if s is s67 else 4011
            log(f"recv :{port} from {addr[0]}:{addr[1]} {describe(pkt)}")
            p = parse(pkt)
            if not p or pkt[0] != 1:
                continue
            opts, _ = p
            if not opts.get(60, b"").startswith(b"PXEClient"):
                continue
            is_ipxe = opts.get(77, b"") == b"iPXE"
            mt = opts.get(53, b"\0")[0]
            if port == 67 and mt == 1:
                f = args.ipxe_file if is_ipxe and args.ipxe_file else args.offer_file
                rep = build(pkt, 2, args, args.server, f)
                s67.sendto(rep, ("255.255.255.255", 68))
                log(f"sent OFFER to 255.255.255.255:68 file={f!r} {describe(rep)}")
            elif port == 4011 and mt == 3 and not args.no_4011:
                f = args.ipxe_file if is_ipxe and args.ipxe_file else args.ack_file
                rep = build(pkt, 5, args, args.server, f)
                s4011.sendto(rep, addr)
                log(f"sent ACK to {addr[0]}:{addr[1]} file={f!r} {describe(rep)}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
