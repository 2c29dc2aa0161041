#!/usr/bin/env python3
"""A lossy, delayed point-to-point link between two network namespaces.

The kernel here has no netem, so the link is made in userspace: one TUN device in each
namespace (both named by --device), and this process copying IP packets between them,
dropping each with a seeded probability (separately per direction) and delivering the
rest after a fixed delay. Nothing reaches any other namespace.

Usage (as root, namespaces created beforehand with `ip netns add`):
  lossy_link.py --ns-a A --ns-b B --addr-a 10.99.0.1 --addr-b 10.99.0.2 \\
                --loss 0.02 --delay-ms 1 --seed 7 [--ready-file F] [--max-seconds 900]
Stops on SIGTERM/SIGINT or after --max-seconds; prints per-direction counts on exit.
"""
import argparse
import collections
import ctypes
import fcntl
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
PR_SET_TIMERSLACK = 29


def enter_namespace(name):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def open_tun(device):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def configure(ns, device, local, peer):
    subprocess.run(["ip", "-n", ns, "addr", "add", f"{local}/32", "peer", f"{peer}/32", "dev", device], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", device, "up"], check=True)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ns-a", required=True)
    p.add_argument("--ns-b", required=True)
    p.add_argument("--addr-a", required=True)
    p.add_argument("--addr-b", required=True)
    p.add_argument("--device", default="lossy0")
    p.add_argument("--loss", type=float, default=0.0, help="drop probability per packet and direction")
    p.add_argument("--delay-ms", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ready-file")
    p.add_argument("--max-seconds", type=float, default=900)
    args = p.parse_args()

    # The TUN device is created in the namespace of the process that opens it.
    enter_namespace(args.ns_a)
    fd_a = open_tun(args.device)
    enter_namespace(args.ns_b)
    fd_b = open_tun(args.device)
    configure(args.ns_a, args.device, args.addr_a, args.addr_b)
    configure(args.ns_b, args.device, args.addr_b, args.addr_a)

    # The kernel lets a timed sleep end up to 50 µs late (timer slack), to batch wake-ups.
    # That is half of a 0.1 ms delay, and how much of it a packet pays would depend on
    # whether another packet's arrival happens to wake the select first: the link's delay
    # would change with the traffic the servers under test send. 1 ns makes it the delay asked.
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(1), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl PR_SET_TIMERSLACK")
    delay = args.delay_ms / 1000.0
    # One generator per direction, so the loss of one side does not shift the other's.
    rng = {fd_a: random.Random(args.seed * 2 + 1), fd_b: random.Random(args.seed * 2 + 2)}
    peer = {fd_a: fd_b, fd_b: fd_a}
    queues = {fd_a: collections.deque(), fd_b: collections.deque()}  # packets towards fd
    counts = {fd_a: [0, 0], fd_b: [0, 0]}  # read from fd: [forwarded, dropped]
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    # A parent may start us with these blocked (a test runner's threads): undo that.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + args.max_seconds

    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        for fd, queue in queues.items():
            while queue and queue[0][0] <= now:
                try:
                    os.write(fd, queue.popleft()[1])
                except BlockingIOError:
                    pass  # the namespace's queue is full: a drop like any other
        due = [q[0][0] for q in queues.values() if q]
        wait = max(0.0, min(due) - now) if due else 0.2
        try:
            readable, _, _ = select.select([fd_a, fd_b], [], [], wait)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            for _ in range(256):
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if rng[fd].random() < args.loss:
                    counts[fd][1] += 1
                    continue
                counts[fd][0] += 1
                queues[peer[fd]].append((now + delay, packet))

    print(f"a->b forwarded {counts[fd_a][0]} dropped {counts[fd_a][1]}; "
          f"b->a forwarded {counts[fd_b][0]} dropped {counts[fd_b][1]}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
