#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the real captures and files in the repository.

usage: make-corpus.py REPO OUT   (writes OUT/<target>/<name> files)

fuzz-dhcp:       every DHCP/PXE payload of Tests/Fixtures/dhcp/*.pcap
fuzz-tftp:       every TFTP read request of the captures, wrapped as the target reads
                 a conversation (content size, knobs, request, then ACKs and ticks)
fuzz-menu:       pxe-menus/menu.yaml and config/garage-pxe.yaml
fuzz-http-query: the query strings iPXE and the installer send
fuzz-syslog:     every datagram of the real installer captures under
                 Tests/Fixtures/installer-syslog/ (one per line, \\xNN escapes undone),
                 plus an RFC 5424 line as logger sends it
fuzz-tar:        small archives laid out like Debian's netboot.tar.gz (GNU long names,
                 pax records, ustar prefixes), as tar and as tar.gz
"""
import glob, os, struct, sys

repo, out = sys.argv[1], sys.argv[2]


def udp_payloads(path):
    d = open(path, "rb").read()
    magic = struct.unpack("<I", d[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(endian + "I", d[20:24])[0]
    i = 24
    while i + 16 <= len(d):
        caplen = struct.unpack(endian + "I", d[i + 8:i + 12])[0]
        frame = d[i + 16:i + 16 + caplen]
        i += 16 + caplen
        ip = 14 if link == 1 else 16
        if len(frame) < ip + 28 or frame[ip - 2:ip] != b"\x08\x00" or frame[ip] >> 4 != 4 or frame[ip + 9] != 17:
            continue
        udp = ip + (frame[ip] & 15) * 4
        sport, dport, length = struct.unpack(">HHH", frame[udp:udp + 6])
        yield sport, dport, frame[udp + 8:udp + length]


def write(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def record(b):
    return bytes([len(b)]) + b


n = 0
for pcap in sorted(glob.glob(os.path.join(repo, "Tests/Fixtures/dhcp/*.pcap"))):
    base = os.path.basename(pcap)[:-5]
    for k, (sport, dport, payload) in enumerate(udp_payloads(pcap)):
        if dport in (67, 68, 4011) or sport in (67, 68, 4011):
            write("fuzz-dhcp", "%s-%03d" % (base, k), payload)
        elif payload[:2] in (b"\x00\x01", b"\x00\x02") and len(payload) < 256:
            acks = b"".join(record(bytes([c]) + struct.pack(">HH", 4, blk)) for c, blk in ((0, 0), (4, 1), (2, 2), (1, 2), (8, 3)))
            write("fuzz-tftp", "%s-%03d" % (base, k), bytes([n % 256, (n * 7) % 256]) + record(payload) + acks)
            n += 1
# Hand-made requests besides the captured ones: options with absurd values, windows.
for k, opts in enumerate([b"", b"blksize\x001468\x00", b"windowsize\x008\x00blksize\x00512\x00tsize\x000\x00",
                          b"blksize\x000\x00windowsize\x0070000\x00tsize\x00-1\x00", b"timeout\x001\x00"]):
    rrq = b"\x00\x01sub/../pxelinux.0\x00octet\x00" + opts if k == 4 else b"\x00\x01undionly.kpxe\x00octet\x00" + opts
    acks = b"".join(record(bytes([c]) + struct.pack(">HH", 4, blk)) for c, blk in ((0, 0), (0, 1), (0, 2), (6, 2), (0, 4)))
    write("fuzz-tftp", "handmade-%d" % k, bytes([200, k * 21]) + record(rrq) + acks)

write("fuzz-menu", "menu.yaml", open(os.path.join(repo, "pxe-menus/menu.yaml"), "rb").read())
write("fuzz-menu", "garage-pxe.yaml", open(os.path.join(repo, "config/garage-pxe.yaml"), "rb").read())

for k, q in enumerate([
    "mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64&ip=10.99.0.50&uuid=4c4c4544-0037-3010-8052-b4c04f4b4d32"
    "&manufacturer=LENOVO&product=ThinkCentre%20M720q&serial=PF0ABCDE",
    "mac=52-54-00-12-34-56&platform=pcbios&serial=&manufacturer=&product=",
    "mac=525400123456&platform=efi&buildarch=arm64",
    "mac=52:54:00:12:34:56&stage=partman&stage=finished",
    "mac=%35%32:54:00:12:34:56&serial=a+b%2Bc",
]):
    write("fuzz-http-query", "query-%d" % k, q.encode())

# Installer syslog: the fixture files hold one datagram per line, bytes outside printable
# ASCII written as \xNN; undo that to get the datagrams back as they arrived.
import re
for path in sorted(glob.glob(os.path.join(repo, "Tests/Fixtures/installer-syslog/*.txt"))):
    base = os.path.splitext(os.path.basename(path))[0]
    for k, line in enumerate(open(path, "rb").read().split(b"\n")):
        if not line:
            continue
        data = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), line)
        write("fuzz-syslog", "%s-%03d" % (base, k), data)
write("fuzz-syslog", "rfc5424", b"<13>1 2026-11-22T03:38:09.123Z host app 42 ID47 [x@1 a=\"b\"] hello")

# Archives shaped like netboot.tar.gz, written by Python's tarfile in each format.
import gzip, io, tarfile
for fmt, name in ((tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax"), (tarfile.USTAR_FORMAT, "ustar")):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for path, body in (("./version.info", b"Installer build: 20230607+deb12u1\n"),
                           ("./debian-installer/amd64/linux", b"K" * 700),
                           ("./debian-installer/amd64/initrd.gz", b"I" * 1300),
                           ("./" + "long/" * 30 + "name", b"x")):
            info = tarfile.TarInfo(path)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    write("fuzz-tar", name, buf.getvalue())
    write("fuzz-tar", name + ".gz", gzip.compress(buf.getvalue(), mtime=0))
