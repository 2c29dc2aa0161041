#!/usr/bin/env python3
"""Hostile HTTP clients for HTTPBoundsTests (issue 16), run from a namespace of their own.

slow HOST PORT COUNT LIMIT [ADDRESS...]: COUNT connections (from the source ADDRESSes in
  turn, if given) that send a request head one byte a second (slowloris). Prints how many the server closed within 2 s (over its connection cap),
  then `held N` (the test runs its checks meanwhile), then how long the last held one
  lasted and how many were still open after LIMIT seconds.
sse HOST PORT COUNT RELEASE ADDRESS...: COUNT bench-page event streams spread over the
  source ADDRESSes; prints how many were answered 200, 503 or otherwise, `holding`, and
  keeps them open until the file RELEASE exists (120 s at most).
slowread HOST PORT PATH SECONDS: one download read at 512 bytes a second for SECONDS;
  prints its connection's own end first (`local ADDRESS PORT`), then the bytes it read.
macs HOST PORT COUNT: COUNT requests over four kept-alive connections at once, each for a
  new random MAC, menu requests and progress calls in turn; prints the count of each status.
"""
import http.client, os, random, socket, sys, time

def closed(s):
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

def slow(host, port, count, limit, addresses=()):
    head = b"GET /boot.ipxe HTTP/1.1\r\nHost: server\r\nX-Slow: " + b"a" * 4000
    conns = []
    for i in range(count):
        source = (addresses[i % len(addresses)], 0) if addresses else None
        s = socket.create_connection((host, port), timeout=10, source_address=source)
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
    print("local %s %d" % s.getsockname(), flush=True)
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

def macs_worker(host, port, seed, count, results):
    """One kept-alive connection, raw requests and a minimal response reader: http.client's
    header parsing costs more than the daemon's answer."""
    rng = random.Random(seed)
    statuses = {}
    s, buffer = None, b""
    for i in range(count):
        mac = "02:" + ":".join("%02x" % rng.randrange(256) for _ in range(5))
        path = "/boot.ipxe?mac=%s&platform=efi" % mac if i % 2 == 0 else "/progress?mac=%s&stage=finished" % mac
        status = "error"
        try:
            if s is None:
                s, buffer = socket.create_connection((host, port), timeout=30), b""
            s.sendall(("GET %s HTTP/1.1\r\nHost: server\r\n\r\n" % path).encode())
            while b"\r\n\r\n" not in buffer:
                data = s.recv(65536)
                if not data:
                    raise OSError("closed")
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(buffer) < length:
                data = s.recv(65536)
                if not data:
                    raise OSError("closed")
                buffer += data
            buffer = buffer[length:]
            status = int(lines[0].split(b" ")[1])
        except (OSError, ValueError, IndexError):
            if s is not None:
                s.close()
            s = None
        statuses[status] = statuses.get(status, 0) + 1
    results.put(statuses)

def macs(host, port, count, workers=4):
    """COUNT requests over WORKERS connections at once (processes of their own), so the
    client keeps the daemon busy on a machine with more than one core."""
    import multiprocessing
    results = multiprocessing.Queue()
    share = [count // workers + (1 if w < count % workers else 0) for w in range(workers)]
    processes = [multiprocessing.Process(target=macs_worker, args=(host, port, 16 + w, share[w], results)) for w in range(workers)]
    for p in processes:
        p.start()
    statuses = {}
    for _ in processes:
        for status, n in results.get(timeout=1800).items():
            statuses[status] = statuses.get(status, 0) + n
    for p in processes:
        p.join()
    print(" ".join("%s=%d" % (k, v) for k, v in sorted(statuses.items(), key=str)), flush=True)

mode = sys.argv[1]
if mode == "slow":
    slow(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6:])
elif mode == "sse":
    sse(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6:])
elif mode == "macs":
    macs(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif mode == "slowread":
    slowread(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
