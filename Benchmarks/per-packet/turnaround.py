#!/usr/bin/env python3
"""Where each lockstep cycle's time goes, from a capture on the server's interface.

A lockstep TFTP cycle is two halves, both timed by the kernel's packet timestamps (tcpdump
writes them; nothing here decodes with the project's codecs):
  server:  an ACK arrives  -> the server sends the next DATA block
  outside: a DATA leaves   -> the client's ACK for it arrives
           (the link both ways and the client; on one shared CPU also whatever the server
           does after its send before it sleeps)
A server's own share of the rate is the first half; where the link or the client dominates
the cycle (a userspace link, a client on the server's CPU), rates move with them.

  turnaround.py CAPTURE.pcap SERVER_ADDRESS
prints one line: pairs=N server_p50 server_p90 server_mean outside_p50 outside_mean (µs).
Only the first copy of each ACK and DATA counts (a retransmission is not a cycle); block
numbers are taken as they are on the wire, so a file must be under 65536 blocks.
"""
import struct
import sys

ETHERNET, RAW = 1, {12, 14, 101}   # DLT_EN10MB; the raw-IP link types a TUN device gets
OPCODE_DATA, OPCODE_ACK = 3, 4


def packets(path):
    """(seconds, source address, source port, destination port, opcode, block) per TFTP packet."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        sys.exit(f"turnaround.py: {path} is not a little-endian pcap file")
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    link = struct.unpack("<I", data[20:24])[0] & 0xFFFF
    if link != ETHERNET and link not in RAW:
        sys.exit(f"turnaround.py: link type {link} not handled")
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, captured, _ = struct.unpack("<IIII", data[offset:offset + 16])
        frame = data[offset + 16:offset + 16 + captured]
        offset += 16 + captured
        ip = frame[14:] if link == ETHERNET else frame
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        header = (ip[0] & 0x0F) * 4
        if len(ip) < header + 12:
            continue
        source_port, destination_port = struct.unpack(">HH", ip[header:header + 4])
        opcode, block = struct.unpack(">HH", ip[header + 8:header + 12])
        yield seconds + fraction * scale, ip[12:16], source_port, destination_port, opcode, block


def quantile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    server = bytes(int(octet) for octet in sys.argv[2].split("."))
    acks, blocks = {}, {}   # (client port, block number) -> first time seen
    for when, source, source_port, destination_port, opcode, block in packets(sys.argv[1]):
        if opcode == OPCODE_ACK and source != server:
            acks.setdefault((source_port, block), when)
        elif opcode == OPCODE_DATA and source == server:
            blocks.setdefault((destination_port, block), when)
    server_half, outside_half = [], []
    for (port, block), acked in acks.items():
        sent = blocks.get((port, (block + 1) & 0xFFFF))
        if sent is not None and sent >= acked:
            server_half.append((sent - acked) * 1e6)
    for (port, block), sent in blocks.items():
        acked = acks.get((port, block))
        if acked is not None and acked >= sent:
            outside_half.append((acked - sent) * 1e6)
    if not server_half or not outside_half:
        sys.exit("turnaround.py: no lockstep cycles in the capture")
    print(f"pairs={len(server_half)} server_p50={quantile(server_half, 0.5):.1f} "
          f"server_p90={quantile(server_half, 0.9):.1f} server_mean={sum(server_half) / len(server_half):.1f} "
          f"outside_p50={quantile(outside_half, 0.5):.1f} outside_mean={sum(outside_half) / len(outside_half):.1f}")


if __name__ == "__main__":
    main()
