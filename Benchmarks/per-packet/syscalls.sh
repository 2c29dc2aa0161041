#!/usr/bin/env bash
# Where one lockstep packet's cost goes, server by server: system calls and context
# switches per DATA block while one client, pinned to the server's CPU, fetches the Debian
# initrd once (blksize 1468, lockstep, as run.sh's t1 row), counted by perf on the server's
# process and whatever threads or children it starts (tftpd-hpa forks one per transfer).
# Counts, not timings: they do not move with the machine's load the way the rates do.
# Then the time of each lockstep cycle, split in two by tcpdump's timestamps on the server's
# interface (turnaround.py): ACK in -> next DATA out (the server's own share) and DATA out
# -> its ACK in (the link and the client), ROUNDS more fetches per server without perf.
# LINK_MS=0.1 CLIENTS=4 counts run.sh's tl0 row instead: 4 unpinned clients at once behind
# the userspace link (scripts/lossy-link, that delay each way, no loss), where each next
# ACK is a LAN round trip away.
#
#   sudo Benchmarks/per-packet/syscalls.sh [OUT.md]
#   GPX_BIN (another garage-pxe build), SERVERS ("garage-pxe dnsmasq tftpd-hpa atftpd"),
#   LINK_MS (unset: a veth pair), CLIENTS (1), ROUNDS (3: timed fetches per server),
#   PROFILE=1 (one more fetch per server under perf record, cpu-clock at 999 Hz with DWARF
#   call graphs: the output adds each server's kernel/user split and its top symbols)
#
# Traffic stays in two network namespaces made here and deleted at the end (a veth pair or
# the link's TUN devices, 10.86.0.0/24); only processes started here are stopped.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/Benchmarks/per-packet"
OUT="${1:-$REPO/Benchmarks/out/per-packet-syscalls.md}"
GPX="${GPX_BIN:-$REPO/.build/release/garage-pxe}"
SERVERS=${SERVERS:-"garage-pxe dnsmasq tftpd-hpa atftpd"}
ATFTPD_DIR=${ATFTPD_DIR:-/var/cache/garage-pxe-bench/atftpd}
CLOAD="$HERE/.build/pxe-cload"
LINK_MS=${LINK_MS:-}
CLIENTS=${CLIENTS:-1}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-0}
[[ "$(id -u)" -eq 0 ]] || { echo "syscalls.sh: needs root (network namespaces, perf)" >&2; exit 2; }
[[ "$CLIENTS" =~ ^[1-9][0-9]?$ ]] || { echo "syscalls.sh: CLIENTS wants 1-99, not $CLIENTS" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "syscalls.sh: ROUNDS wants 1-99, not $ROUNDS" >&2; exit 2; }
[[ -z "$LINK_MS" || "$LINK_MS" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "syscalls.sh: LINK_MS wants milliseconds (0.1), not $LINK_MS" >&2; exit 2; }
[[ -x "$GPX" ]] || { echo "syscalls.sh: no garage-pxe at $GPX (swift build -c release, or GPX_BIN)" >&2; exit 2; }

bash "$REPO/Benchmarks/tftp/install-peers.sh" >/dev/null
INITRD=$(dpkg -L debian-installer-12-netboot-amd64 | grep '/text/debian-installer/amd64/initrd.gz$' | head -1)
[[ -f "$INITRD" ]] || { echo "syscalls.sh: Debian initrd not found (scripts/install-deps.sh serve)" >&2; exit 2; }
mkdir -p "$HERE/.build"
cc -O2 -Wall -Wextra -o "$CLOAD" "$REPO/Benchmarks/cload/pxe-cload.c" -lcrypto

RUN=$(mktemp -d /tmp/garage-pxe-syscalls.XXXXXX)
ROOT="$RUN/root"
mkdir -p "$ROOT"
cp "$INITRD" "$ROOT/initrd.gz"
cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/snponly.efi /usr/lib/ipxe/ipxe.efi "$ROOT/"   # garage-pxe checks its boot files
chmod -R a+rX "$RUN"   # atftpd reads as nobody
NS_SRV="gpxsc-s$$" NS_CLI="gpxsc-c$$"
PIDS=(); NAMESPACES=(); CGROUPS=()
# shellcheck source=../lib.sh
source "$REPO/Benchmarks/lib.sh"
trap 'rc=$?; undo_run; rm -rf "$RUN"; exit $rc' EXIT INT TERM
for ns in "$NS_SRV" "$NS_CLI"; do ip netns add "$ns"; NAMESPACES+=("$ns"); ip -n "$ns" link set lo up; done
if [[ -z "$LINK_MS" ]]; then
  DEV=gpxsc-s
  ip link add gpxsc-s netns "$NS_SRV" type veth peer name gpxsc-c netns "$NS_CLI"
  ip -n "$NS_SRV" link set gpxsc-s up; ip -n "$NS_CLI" link set gpxsc-c up
  ip -n "$NS_SRV" addr add 10.86.0.1/24 dev gpxsc-s; ip -n "$NS_CLI" addr add 10.86.0.2/24 dev gpxsc-c
else
  DEV=gpxsc-l
  python3 "$REPO/scripts/lossy-link/lossy_link.py" --ns-a "$NS_CLI" --ns-b "$NS_SRV" --device "$DEV" \
    --addr-a 10.86.0.2 --addr-b 10.86.0.1 --loss 0 --delay-ms "$LINK_MS" --seed 11 \
    --ready-file "$RUN/link.ready" --max-seconds 900 >"$RUN/link.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [[ -s "$RUN/link.ready" ]] && break; sleep 0.1; done
  [[ -s "$RUN/link.ready" ]] || { echo "syscalls.sh: the link did not start" >&2; cat "$RUN/link.log" >&2; exit 1; }
fi
CPU=$(($(nproc) - 1))
# One client over the veth pair shares the server's CPU (t1: cost per packet); otherwise
# nothing is pinned (tl0, t32).
PINNED=0; [[ -z "$LINK_MS" && "$CLIENTS" == 1 ]] && PINNED=1
PIN=(); ((PINNED)) && PIN=(taskset -c "$CPU")
# Every system call (raw_syscalls), and by name the ones a TFTP server's packet path makes.
EVENTS=context-switches,task-clock,raw_syscalls:sys_enter
CALLS=(recvfrom recvmsg recvmmsg sendto sendmsg sendmmsg epoll_wait epoll_pwait pselect6 poll ppoll select sched_yield
       pread64 read lseek futex)
for call in "${CALLS[@]}"; do EVENTS+=",syscalls:sys_enter_$call"; done

fetch() {
  nsenter --net="/var/run/netns/$NS_CLI" "${PIN[@]}" "$CLOAD" tftp --server 10.86.0.1 --file initrd.gz \
    --source "$ROOT/initrd.gz" --clients "$CLIENTS" --repeat 1 --blksize 1468 --windowsize 1 --timeout-ms 1000 --retries 10
}

BYTES=$(stat -c %s "$ROOT/initrd.gz")
BLOCKS=$((BYTES / 1468 + 1))
SENT=$((BLOCKS * CLIENTS))   # blocks all transfers move, the denominator
ROWS=(); TIMES=(); PROFILES=()
for server in $SERVERS; do
  start_tftp_server "$server" "$NS_SRV" "$DEV" 10.86.0.1 "$ROOT" "$RUN"
  pid=$STARTED_PID; PIDS+=("$pid")
  for _ in $(seq 100); do ip netns exec "$NS_SRV" ss -Hlun "sport = :69" | grep -q . && break; sleep 0.1; done
  ip netns exec "$NS_SRV" ss -Hlun "sport = :69" | grep -q . || { echo "syscalls.sh: $server did not start" >&2; grep -h error "$RUN/$server"-* >&2 || true; exit 1; }
  ((PINNED)) && taskset -a -p -c "$CPU" "$pid" >/dev/null
  fetch >/dev/null   # the file into the page cache, the server's first-transfer work done
  perf stat -x, -e "$EVENTS" -p "$pid" -o "$RUN/$server.perf" &
  perf_pid=$!
  sleep 1   # perf attached
  line=$(fetch)
  sleep 0.5   # tftpd-hpa's child exits after the last ACK
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  grep -q " ok=$CLIENTS failed=0 " <<<"$line" || { echo "syscalls.sh: $server: $line" >&2; exit 1; }
  rate=$(sed -E 's/.*aggregate_MBps=([0-9.]+).*/\1/' <<<"$line")
  # The same fetch timed, perf detached: the kernel stamps each packet on the server's interface.
  CAPTURES=()
  for ((round = 1; round <= ROUNDS; round++)); do
    ip netns exec "$NS_SRV" tcpdump -i "$DEV" -n -s 64 -B 32768 --time-stamp-precision nano -w "$RUN/$server.$round.pcap" udp \
      2>"$RUN/$server.tcpdump" &
    capture=$!; PIDS+=("$capture")
    for _ in $(seq 50); do grep -q "listening on" "$RUN/$server.tcpdump" && break; sleep 0.1; done
    timed=$(fetch)
    sleep 0.5   # the capture has the last packets
    kill -INT "$capture"; wait "$capture" || true
    grep -q " ok=$CLIENTS failed=0 " <<<"$timed" || { echo "syscalls.sh: $server: $timed" >&2; exit 1; }
    CAPTURES+=("$(sed -E 's/.*aggregate_MBps=([0-9.]+).*/\1/' <<<"$timed"):$RUN/$server.$round.pcap")
  done
  if [[ "$PROFILE" == 1 ]]; then
    perf record -q -F 999 --call-graph dwarf,16384 -p "$pid" -o "$RUN/$server.data" 2>"$RUN/$server.record" &
    perf_pid=$!
    sleep 1   # perf attached
    profiled=$(fetch)
    sleep 0.5
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    grep -q " ok=$CLIENTS failed=0 " <<<"$profiled" || { echo "syscalls.sh: $server: $profiled" >&2; exit 1; }
    # Self time by DSO and symbol, read once: samples in the kernel against user space
    # (perf marks kernel symbols [k]), then the symbols with at least 1 % of them.
    perf report -i "$RUN/$server.data" -g none --no-children --sort dso,sym --stdio >"$RUN/$server.report" 2>/dev/null
    PROFILES+=("$server: $(awk '$1 ~ /%$/ { p = $1 + 0; if ($3 == "[k]") k += p; else if ($3 == "[.]") u += p }
      END { printf "kernel %.0f %%, user space %.0f %%", k, u }' "$RUN/$server.report")")
    PROFILES+=("$(awk '$1 ~ /%$/ && $1 + 0 >= 1 { print "    " $0 }' "$RUN/$server.report" | head -25)")
  fi
  stop_pids "$pid"
  TIMES+=("$(python3 "$HERE/turnaround.py" 10.86.0.1 "$server" "${CAPTURES[@]}")")
  ROWS+=("$(awk -F, -v server="$server" -v blocks="$SENT" -v rate="$rate" '
    $1 ~ /^[0-9.]+$/ {
      name = $3; sub(/^syscalls:sys_enter_/, "", name)
      if (name == "task-clock") cpu_ms = $1; else if (name == "context-switches") cs = $1
      else if (name == "raw_syscalls:sys_enter") total = $1
      else if ($1 / blocks >= 0.01) calls = calls sprintf("%s%s %.2f", calls == "" ? "" : ", ", name, $1 / blocks)
    }
    END { printf "| %s | %.1f MB/s | %.2f | %.2f | %s | %.1f µs |", server, rate, total / blocks, cs / blocks, calls, cpu_ms * 1e3 / blocks }' \
    "$RUN/$server.perf")")
done

mkdir -p "$(dirname "$OUT")"
{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r); garage-pxe $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- Sources || echo '+uncommitted') ($GPX). Clients at once: $CLIENTS, each fetching initrd.gz ($BYTES bytes, $BLOCKS blocks of 1468) once, $(if [[ -n "$LINK_MS" ]]; then echo "over the userspace link, $LINK_MS ms each way, unpinned"; elif ((PINNED)); then echo "over a veth pair, client and server on CPU $CPU"; else echo "over a veth pair, unpinned"; fi)."
  echo
  echo "| server | rate (this fetch) | system calls per block | context switches per block | of which, by name (≥ 0.01 per block) | server CPU per block |"
  echo "|---|---:|---:|---:|---|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Each lockstep cycle in two halves, from tcpdump's timestamps on the server's interface (turnaround.py), medians over $ROUNDS more fetches per server (perf detached; the rounds' spread in brackets): ACK in -> next DATA out is the server's own; DATA out -> its ACK in is the link and the client$( ((PINNED)) && echo ", and on their shared CPU whatever the server does after its send before it sleeps")."
  echo
  echo "| server | rate (min-max) | ACK → DATA p50 | p90 | mean (min-max) | DATA → ACK p50 | mean |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${TIMES[@]}"
  if ((${#PROFILES[@]})); then
    echo
    echo "Profiles (perf record, cpu-clock 999 Hz, one more fetch per server; self time by DSO and symbol, ≥ 1 %):"
    echo
    echo '```'
    printf '%s\n' "${PROFILES[@]}"
    echo '```'
  fi
} >"$OUT"
cat "$OUT"
