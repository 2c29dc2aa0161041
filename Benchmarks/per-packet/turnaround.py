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

  turnaround.py SERVER_ADDRESS NAME RATE:CAPTURE.pcap [RATE:CAPTURE.pcap ...]
prints one Markdown row for the server NAME: the rate (MB/s, as the generator said) and the
halves' p50, p90 and mean (µs), medians over the captures (one per round), with the spread of
the rate and of the server's mean.
Only the first copy of each ACK and DATA counts (a retransmission is not a cycle); block
numbers are taken as they are on the wire, so a file must be under 65536 blocks.
"""
import statistics
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


def halves(path, server):
    """The server's and the outside halves of every cycle in one capture, in µs."""
    acks, blocks = {}, {}   # (client port, block number) -> first time seen
    for when, source, source_port, destination_port, opcode, block in packets(path):
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
        sys.exit(f"turnaround.py: no lockstep cycles in {path}")
    return server_half, outside_half


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    server = bytes(int(octet) for octet in sys.argv[1].split("."))
    rounds = []
    for argument in sys.argv[3:]:
        rate, path = argument.split(":", 1)
        server_half, outside_half = halves(path, server)
        rounds.append({"rate": float(rate), "server_p50": quantile(server_half, 0.5),
                       "server_p90": quantile(server_half, 0.9), "server_mean": statistics.mean(server_half),
                       "outside_p50": quantile(outside_half, 0.5), "outside_mean": statistics.mean(outside_half)})
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    low = {key: min(r[key] for r in rounds) for key in rounds[0]}
    high = {key: max(r[key] for r in rounds) for key in rounds[0]}
    print(f"| {sys.argv[2]} | {median['rate']:.1f} MB/s ({low['rate']:.1f}-{high['rate']:.1f}) | "
          f"{median['server_p50']:.1f} µs | {median['server_p90']:.1f} µs | "
          f"{median['server_mean']:.1f} µs ({low['server_mean']:.1f}-{high['server_mean']:.1f}) | "
          f"{median['outside_p50']:.1f} µs | {median['outside_mean']:.1f} µs |")


if __name__ == "__main__":
    main()
