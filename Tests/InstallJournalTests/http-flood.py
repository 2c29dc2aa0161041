#!/usr/bin/env python3
"""Hostile HTTP clients for HTTPBoundsTests (issue 16), run from a namespace of their own.

slow HOST PORT COUNT LIMIT: COUNT connections that send a request head one byte a second
  (slowloris). Prints how many the server closed within 2 s (over its connection cap),
  then `held N` (the test runs its checks meanwhile), then how long the last held one
  lasted and how many were still open after LIMIT seconds.
sse HOST PORT COUNT RELEASE ADDRESS...: COUNT bench-page event streams spread over the
  source ADDRESSes; prints how many were answered 200, 503 or otherwise, `holding`, and
  keeps them open until the file RELEASE exists (120 s at most).
slowread HOST PORT PATH SECONDS: one download read at 512 bytes a second for SECONDS.
macs HOST PORT COUNT: COUNT requests on one kept-alive connection, each for a new random
  MAC, menu requests and progress calls in turn; prints the count of each status.
"""
import http.client, os, random, socket, sys, time

def closed(s):
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

def slow(host, port, count, limit):
    head = b"GET /boot.ipxe HTTP/1.1\r\nHost: server\r\nX-Slow: " + b"a" * 4000
    conns = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=10)
        s.setblocking(False)
        s.send(head[:20])
        conns.append(s)
    opened = time.monotonic()
    time.sleep(2)
    at_once = [s for s in conns if closed(s)]
    held = [s for s in conns if s not in at_once]
    print("closed_at_once", len(at_once), flush=True)
    print("held", len(held), flush=True)
    position, last_cut = 20, 0.0
    while held and time.monotonic() - opened < limit:
        time.sleep(1)
        still = []
        for s in held:
            try:
                s.send(head[position:position + 1])
            except OSError:
                pass
            if closed(s):
                last_cut = time.monotonic() - opened
            else:
                still.append(s)
        held, position = still, position + 1
    print("last_cut_seconds", int(last_cut), flush=True)
    print("still_open", len(held), flush=True)

def sse(host, port, count, release, addresses):
    conns, codes = [], {}
    for i in range(count):
        s = socket.socket()
        s.settimeout(10)
        s.bind((addresses[i % len(addresses)], 0))
        s.connect((host, port))
        s.send(b"GET /api/events HTTP/1.1\r\nHost: server\r\n\r\n")
        conns.append(s)
    for s in conns:
        try:
            code = s.recv(12).split(b" ")[1].decode()
        except (OSError, IndexError):
            code = "none"
        codes[code] = codes.get(code, 0) + 1
    print("streams", codes.get("200", 0), "refused", codes.get("503", 0),
          "other", count - codes.get("200", 0) - codes.get("503", 0), flush=True)
    print("holding", flush=True)
    end = time.monotonic() + 120
    while time.monotonic() < end and not os.path.exists(release):
        time.sleep(0.2)
    for s in conns:
        s.close()

def slowread(host, port, path, seconds):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, port))
    s.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: server\r\n\r\n")
    total, end = 0, time.monotonic() + seconds
    s.settimeout(1)
    while time.monotonic() < end:
        try:
            data = s.recv(512)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        total += len(data)
        time.sleep(1)
    print("read", total, flush=True)

def macs(host, port, count):
    rng = random.Random(16)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    statuses = {}
    for i in range(count):
        mac = "02:" + ":".join("%02x" % rng.randrange(256) for _ in range(5))
        path = "/boot.ipxe?mac=%s&platform=efi" % mac if i % 2 == 0 else "/progress?mac=%s&stage=finished" % mac
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=30)
            status = "error"
        statuses[status] = statuses.get(status, 0) + 1
    print(" ".join("%s=%d" % (k, v) for k, v in sorted(statuses.items(), key=str)), flush=True)

mode = sys.argv[1]
if mode == "slow":
    slow(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
elif mode == "sse":
    sse(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6:])
elif mode == "macs":
    macs(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif mode == "slowread":
    slowread(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
