#!/usr/bin/env python3
"""Turns tftp-load result lines (key=value, one per server and row) into Markdown tables."""
import re
import shlex
import sys

SERVERS = ["garage-pxe", "tftpd-hpa", "dnsmasq"]


def parse(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        fields = dict(part.split("=", 1) for part in shlex.split(line.replace("label=", "label='", 1)
                                                                  .replace(" clients=", "' clients=", 1)))
        fields.setdefault("repeat", "1")
        rows.append(fields)
    return rows


def main():
    rows = parse(sys.argv[1])
    order, runs = [], {}
    for r in rows:
        if r["label"] not in order:
            order.append(r["label"])
        runs.setdefault((r["label"], r["server"]), []).append(r)
    # Repeated rows: keep the median run by throughput (a failed run counts as slowest).
    by = {}
    for key, rs in runs.items():
        rs = sorted(rs, key=lambda r: (int(r["failed"]) == 0, float(r["aggregate_MBps"])))
        by[key] = rs[len(rs) // 2]
        by[key]["runs"] = str(len(rs))

    def mbps(r):
        return float(r["aggregate_MBps"])

    def cell(r):
        if r is None:
            return "n/a"
        text = f"{mbps(r):.1f}" if mbps(r) >= 1 else f"{mbps(r):.2f}"
        if int(r["failed"]):
            text += f" ({r['failed']} failed)"
        return text

    print("| row | garage-pxe MB/s | tftpd-hpa MB/s | dnsmasq MB/s | garage-pxe ÷ faster peer | garage-pxe ÷ its own windowsize 1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label in order:
        ours = by.get((label, "garage-pxe"))
        peers = [by.get((label, s)) for s in SERVERS[1:]]
        best = max((mbps(p) for p in peers if p and int(p["failed"]) == 0), default=None)
        ratio = f"{mbps(ours) / best:.2f}×" if ours and best else "n/a"
        lockstep_label = re.sub(r"windowsize \d+", "windowsize 1", label)
        own = by.get((lockstep_label, "garage-pxe"))
        own_ratio = f"{mbps(ours) / mbps(own):.2f}×" if ours and own and lockstep_label != label else ""
        print(f"| {label} | {cell(ours)} | {cell(peers[0])} | {cell(peers[1])} | {ratio} | {own_ratio} |")

    print()
    print("| server | row | runs | MB/s (median) | p50 s | p99 s | failed | blksize / windowsize granted | peak RSS MB | CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for server in SERVERS:
        for label in order:
            r = by.get((label, server))
            if r is None:
                continue
            print(f"| {server} | {label} | {r['runs']} | {cell(r)} | {r['p50_s']} | {r['p99_s']} | {r['failed']} | "
                  f"{r['blksize']} / {r['windowsize']} | {r.get('server_peak_rss_MB', '?')} | {r.get('server_cpu_s', '?')} |")


if __name__ == "__main__":
    main()
