#!/usr/bin/env python3
"""Markdown table from proxy-dhcp.sh's JSON lines: one row per path and concurrency,
dnsmasq and garage-pxe side by side, ratios garage-pxe / dnsmasq. With several rounds
each cell is the median over rounds."""
import json
import statistics
import sys

SERVERS = ("dnsmasq", "garage-pxe")


def load(path):
    runs = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                runs.setdefault((r["label"], r["port"], r["concurrency"]), []).append(r)
    return runs


def med(rs, get):
    vals = [get(r) for r in rs if get(r) is not None]
    return statistics.median(vals) if vals else None


def cell(rs):
    """Summary of one server at one path/concurrency, or None if it never answered."""
    if not rs or not any(r["valid"] > 0 for r in rs):
        return None
    valid = sum(r["valid"] for r in rs)
    return {
        "rate": med(rs, lambda r: r["replies_per_s"]),
        "p50": med(rs, lambda r: r["lat_us"]["p50"]),
        "p99": med(rs, lambda r: r["lat_us"]["p99"]),
        "max": max(r["lat_us"]["max"] for r in rs if r["lat_us"]["max"] is not None),
        "lost": sum(r["lost"] for r in rs),
        "sent": sum(r["sent"] + r["send_errors"] for r in rs),
        "verified": all(r["verified"] for r in rs),
        "cpu_us": 1e6 * sum(r["server_cpu_s"] for r in rs) / valid,
    }


def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def main():
    runs = load(sys.argv[1])
    keys = sorted({(port, c) for (_, port, c) in runs})
    print("| path | conc | server | replies/s | p50 µs | p99 µs | max µs | lost/sent | server CPU µs/reply | verified |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    ratios = []
    for port, c in keys:
        path = ":67 DISCOVER→OFFER" if port == 67 else ":4011 REQUEST→ACK"
        cells = {}
        for s in SERVERS:
            rs = runs.get((s, port, c), [])
            cells[s] = cell(rs)
            x = cells[s]
            if not rs:
                continue  # not part of this run (SERVERS=...)
            if x is None:
                print(f"| {path} | {c} | {s} | no answer | — | — | — | — | — | no |")
                continue
            print(f"| {path} | {c} | {s} | {fmt(x['rate'])} | {fmt(x['p50'], 1)} | {fmt(x['p99'], 1)} | {fmt(x['max'], 1)} "
                  f"| {x['lost']}/{x['sent']} | {fmt(x['cpu_us'], 1)} | {'yes' if x['verified'] else 'NO'} |")
        d, g = cells["dnsmasq"], cells["garage-pxe"]
        ratios.append((path, c, d, g))
    print()
    print("| path | conc | rate ratio (higher is better) | p50 ratio (lower is better) | p99 ratio (lower is better) | CPU/reply ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for path, c, d, g in ratios:
        ran = {s for s in SERVERS if runs.get((s, port, c))}
        if len(ran) < 2:
            continue
        if d is None or g is None:
            who = "dnsmasq" if d is None else "garage-pxe"
            print(f"| {path} | {c} | {who} did not answer this path | — | — | — |")
            continue
        print(f"| {path} | {c} | {ratio(g['rate'], d['rate'])} | {ratio(g['p50'], d['p50'])} | {ratio(g['p99'], d['p99'])} | {ratio(g['cpu_us'], d['cpu_us'])} |")


if __name__ == "__main__":
    main()
