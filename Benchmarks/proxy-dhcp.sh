#!/usr/bin/env bash
# proxyDHCP benchmark: garage-pxe against dnsmasq in proxy mode, side by side in one run.
#
# Creates two network namespaces joined by a veth pair (10.78.0.0/24, which exists only
# there), builds garage-pxe and Benchmarks' pxe-loadgen (release), then for each server in
# turn: starts it in gpxbench-srv, warms it up, runs the identical loadgen from
# gpxbench-cli on both paths (:67 DISCOVER -> broadcast offer, :4011 REQUEST -> unicast
# ACK) at each concurrency level, stops it by its PID. Prints a table with ratios
# garage-pxe / dnsmasq. Everything it created (namespaces, veths, run dir, processes) is
# removed on exit, also on error or Ctrl-C.
#
# Usage: sudo Benchmarks/proxy-dhcp.sh
# Environment (defaults in brackets):
#   DURATION=S        seconds per measurement [4]
#   COUNT=N           request cap per measurement [500000]
#   CONCURRENCY="N.." concurrency levels [1 8 32]
#   ROUNDS=N          repeat the whole server sequence N times, table shows the median [2]
#   PIN=0|1           pin server to CPU 1 and loadgen to CPU 0 with taskset [1 if >= 2 CPUs]
#   RT=0|1            run server and loadgen SCHED_FIFO 50 (chrt), so that other work on
#                     the machine does not preempt them: measures the software rather than
#                     the scheduler; the kernel's RT throttling still leaves 5% to others [1]
#   SERVERS="..."     which servers, in order [dnsmasq garage-pxe]
#   SKIP_BUILD=1      use the existing release binaries
#   GPX_LOG_LEVEL=L   garage-pxe --log-level [info, the shipped default]
#   OUT=DIR           where the JSON lines and table are kept [Benchmarks/out]
#   PERF=1            in round 1, record each server with perf (cpu-clock, DWARF call graphs)
#                     during the :67 run at the highest concurrency: OUT/perf-NAME.{data,txt}
# Needs: root (namespaces, ports 67/68/4011), iproute2, dnsmasq, python3, swift, /usr/lib/ipxe.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"

DURATION="${DURATION:-4}"
COUNT="${COUNT:-500000}"
CONCURRENCY="${CONCURRENCY:-1 8 32}"
ROUNDS="${ROUNDS:-2}"
SKIP_BUILD="${SKIP_BUILD:-0}"
RT="${RT:-1}"
SERVERS="${SERVERS:-dnsmasq garage-pxe}"
GPX_LOG_LEVEL="${GPX_LOG_LEVEL:-info}"
OUT="${OUT:-$HERE/out}"
TIMEOUT_MS=1000
if [[ -z "${PIN:-}" ]]; then
  if [[ "$(nproc)" -ge 2 ]] && command -v taskset >/dev/null; then PIN=1; else PIN=0; fi
fi

NS_SRV="gpxbench-srv"
NS_CLI="gpxbench-cli"
IF_SRV="gpxb-srv"
IF_CLI="gpxb-cli"
SRV_ADDR="10.78.0.1"
CLI_ADDR="10.78.0.2"
IPXE_DIR="/usr/lib/ipxe"
PYTHON="$(command -v /usr/bin/python3 || command -v python3)"

# GPX_BIN=PATH benchmarks another garage-pxe build (e.g. an experiment) instead.
GPX_BIN="${GPX_BIN:-$ROOT/.build/release/garage-pxe}"
LOADGEN_BIN="$HERE/.build/release/pxe-loadgen"

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (network namespaces, ports 67/68/4011)"
for tool in ip dnsmasq "$PYTHON" timeout flock chrt; do
  command -v "$tool" >/dev/null || die "missing $tool"
done
for f in undionly.kpxe ipxe.efi snponly.efi; do
  [[ -f "$IPXE_DIR/$f" ]] || die "$IPXE_DIR/$f missing (apt-get install ipxe)"
done
[[ "$ROUNDS" =~ ^[1-9]$ ]] || die "ROUNDS must be 1-9"
for server in $SERVERS; do
  [[ "$server" == dnsmasq || "$server" == garage-pxe ]] || die "SERVERS: unknown server '$server'"
done
[[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DURATION must be a number of seconds"

# One run at a time: the namespace names are fixed.
exec 9>/run/gpxbench.lock
flock -n 9 || die "another proxy-dhcp.sh run holds /run/gpxbench.lock"

# tmpfs, so that both servers' per-request log lines cost the same and touch no disk.
RUN_DIR="$(mktemp -d /dev/shm/gpxbench.XXXXXX)"
chmod 0755 "$RUN_DIR"
CREATED_NS=()
SERVER_PID=""

# Signals only a PID this script started, and only while its command line still names
# RUN_DIR (every server we start carries it), so a recycled PID is never hit.
pid_is_ours() {
  local pid="$1"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$RUN_DIR"
}

stop_server() {
  local pid="$SERVER_PID" i
  SERVER_PID=""
  [[ -n "$pid" ]] || return 0
  if pid_is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_is_ours "$pid" || break
      [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]] && break
      sleep 0.1
    done
    if pid_is_ours "$pid" && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]]; then
      log "pid $pid ignored SIGTERM for 5 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Reap it, but never block on something still running.
  if ! kill -0 "$pid" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]]; then
    wait "$pid" 2>/dev/null || true
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  local ns
  for ns in "${CREATED_NS[@]}"; do
    # Deleting the namespace deletes the veth end inside it, and so its peer.
    ip netns delete "$ns" 2>/dev/null || log "could not delete netns $ns"
  done
  if [[ -d "$RUN_DIR" && "$RUN_DIR" == /dev/shm/gpxbench.* ]]; then
    mkdir -p "$OUT"
    # The servers' logs hold a line per answer (hundreds of MB): keep their heads and tails.
    local f
    for f in "$RUN_DIR"/*.log; do
      [[ -f "$f" ]] || continue
      { head -n 20 "$f"; echo "[…]"; tail -n 20 "$f"; } >"$OUT/$(basename "$f")" 2>/dev/null || true
    done
    rm -rf -- "$RUN_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }

# ---- build --------------------------------------------------------------------------
if [[ "$SKIP_BUILD" != 1 ]]; then
  # SwiftPM waits by itself while another build holds the same .build; bound it anyway.
  log "building garage-pxe (release)"
  (cd "$ROOT" && timeout 1200 swift build -c release --product garage-pxe) >"$RUN_DIR/build-server.log" 2>&1 ||
    { tail -30 "$RUN_DIR/build-server.log" >&2; die "garage-pxe build failed"; }
  log "building pxe-loadgen (release)"
  (cd "$HERE" && timeout 1200 swift build -c release) >"$RUN_DIR/build-loadgen.log" 2>&1 ||
    { tail -30 "$RUN_DIR/build-loadgen.log" >&2; die "pxe-loadgen build failed"; }
fi
[[ -x "$GPX_BIN" ]] || die "$GPX_BIN missing"
[[ -x "$LOADGEN_BIN" ]] || die "$LOADGEN_BIN missing"

# ---- namespaces -----------------------------------------------------------------------
for ns in "$NS_SRV" "$NS_CLI"; do
  if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
    die "netns $ns already exists (left over from a killed run? check, then: ip netns delete $ns)"
  fi
done
ip netns add "$NS_SRV"; CREATED_NS+=("$NS_SRV")
ip netns add "$NS_CLI"; CREATED_NS+=("$NS_CLI")
# Both ends are created directly inside the namespaces: nothing appears in the root one.
ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_CLI" netns "$NS_CLI"
in_srv ip link set lo up
in_cli ip link set lo up
in_srv ip addr add "$SRV_ADDR/24" dev "$IF_SRV"
in_cli ip addr add "$CLI_ADDR/24" dev "$IF_CLI"
in_srv ip link set "$IF_SRV" up
in_cli ip link set "$IF_CLI" up
# No routes but the /24: a stray packet has nowhere to go.
log "namespaces $NS_SRV ($IF_SRV $SRV_ADDR) and $NS_CLI ($IF_CLI $CLI_ADDR) up"

mkdir -p "$RUN_DIR/tftp"
for f in undionly.kpxe ipxe.efi snponly.efi; do ln -s "$IPXE_DIR/$f" "$RUN_DIR/tftp/$f"; done

SRV_CPU=(); CLI_CPU=()
if [[ "$RT" == 1 ]]; then SRV_CPU=(chrt -f 50); CLI_CPU=(chrt -f 50); fi
if [[ "$PIN" == 1 ]]; then SRV_CPU+=(taskset -c 1); CLI_CPU+=(taskset -c 0); fi

wait_udp_ports() {   # wait_udp_ports PORT... (bounded: 10 s)
  local i port missing
  for ((i = 0; i < 100; i++)); do
    missing=0
    for port in "$@"; do
      in_srv ss -Hlun "sport = :$port" | grep -q . || missing=1
    done
    [[ $missing == 0 ]] && return 0
    pid_is_ours "$SERVER_PID" || return 1
    sleep 0.1
  done
  return 1
}

# ---- servers --------------------------------------------------------------------------
# dnsmasq answers :4011 only when pxe-service is configured (a plain dhcp-boot proxy does
# not open it), and there only for a REQUEST whose option 43 names one of its boot server
# types: the first pxe-service with a file gets type 0x8000, which the loadgen asks for.
start_dnsmasq() {
  # --keep-in-foreground: it stays our child and $! is its PID (ip netns exec, chrt and
  # taskset exec; no shell function here: a backgrounded function would be a subshell with
  # its own PID), otherwise it runs as in production. Not --no-daemon: that is debug mode,
  # which also copies every log line to stderr and stays root.
  ip netns exec "$NS_SRV" "${SRV_CPU[@]}" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null \
    --port=0 --interface="$IF_SRV" --bind-interfaces \
    --dhcp-range=10.78.0.0,proxy \
    --pxe-service=x86PC,"garage bench",undionly.kpxe \
    --dhcp-leasefile="$RUN_DIR/dnsmasq.leases" --pid-file="$RUN_DIR/dnsmasq.pid" \
    --log-facility="$RUN_DIR/dnsmasq.log" \
    </dev/null >>"$RUN_DIR/dnsmasq.stdout.log" 2>&1 &
  SERVER_PID=$!
  wait_udp_ports 67 4011 || { cat "$RUN_DIR/dnsmasq.log" "$RUN_DIR/dnsmasq.stdout.log" >&2 || true; die "dnsmasq did not bind :67 and :4011"; }
}

start_garage_pxe() {
  ip netns exec "$NS_SRV" "${SRV_CPU[@]}" "$GPX_BIN" serve --config "$ROOT/config/garage-pxe.yaml" --user root \
    --interface "$IF_SRV" --address "$SRV_ADDR" --tftp-root "$RUN_DIR/tftp" --log-level "$GPX_LOG_LEVEL" \
    </dev/null >>"$RUN_DIR/garage-pxe.log" 2>&1 &
  SERVER_PID=$!
  wait_udp_ports 67 4011 || { cat "$RUN_DIR/garage-pxe.log" >&2 || true; die "garage-pxe did not bind :67 and :4011"; }
}

server_cpu_ticks() {   # utime + stime of the server, all threads, in clock ticks
  awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}

loadgen() {   # loadgen LABEL MODE CONCURRENCY COUNT DURATION
  in_cli "${CLI_CPU[@]}" timeout 120 "$LOADGEN_BIN" --label "$1" --mode "$2" --concurrency "$3" \
    --count "$4" --duration "$5" --timeout-ms "$TIMEOUT_MS" \
    --server "$SRV_ADDR" --interface "$IF_CLI" --client-address "$CLI_ADDR" --boot-item 0x8000
}

RESULTS="$RUN_DIR/results.jsonl"
: >"$RESULTS"
TICKS_PER_S="$(getconf CLK_TCK)"

bench_server() {   # bench_server NAME ROUND
  local name="$1" round="$2" mode c json t0 t1 rc
  log "round $round: starting $name in $NS_SRV"
  case "$name" in
    dnsmasq) start_dnsmasq ;;
    garage-pxe) start_garage_pxe ;;
  esac
  # Warm-up: first-touch allocations, caches, ARP, the loadgen's own page faults.
  for mode in discover request; do
    loadgen "$name" "$mode" 8 3000 1 >"$RUN_DIR/warmup.json" ||
      { cat "$RUN_DIR/warmup.json" >&2; die "$name gave no valid $mode reply during warm-up"; }
    sed -n 's/^# /bench: warm-up /p' "$RUN_DIR/warmup.json" >&2
  done
  for mode in discover request; do
    for c in $CONCURRENCY; do
      local perf_pid=""
      if [[ "${PERF:-0}" == 1 && $round == 1 && $mode == discover && $c == "${CONCURRENCY##* }" ]]; then
        mkdir -p "$OUT"
        # Bounded by its own sleep; attaches to the server's PID only.
        perf record -q -F 499 --call-graph dwarf,16384 -p "$SERVER_PID" -o "$OUT/perf-$name.data" -- sleep "$DURATION" \
          >"$RUN_DIR/perf-$name.log" 2>&1 &
        perf_pid=$!
        sleep 0.2
      fi
      t0="$(server_cpu_ticks)"
      rc=0
      json="$(loadgen "$name" "$mode" "$c" "$COUNT" "$DURATION")" || rc=$?
      t1="$(server_cpu_ticks)"
      if [[ -n "$perf_pid" ]]; then
        wait "$perf_pid" || log "perf record for $name failed: $(tail -3 "$RUN_DIR/perf-$name.log")"
        perf report -i "$OUT/perf-$name.data" --no-children --sort dso,sym --stdio 2>/dev/null \
          | grep -v '^$' | head -400 >"$OUT/perf-$name.txt" || true
        log "perf profile of $name: $OUT/perf-$name.txt"
      fi
      sed -n 's/^# /bench: /p' <<<"$json" >&2
      # Keep the JSON line, with the server's CPU time over the measurement added.
      grep '^{' <<<"$json" | sed "s/}\$/,\"round\":$round,\"loadgen_rc\":$rc,\"server_cpu_s\":$(awk -v a="$t0" -v b="$t1" -v h="$TICKS_PER_S" 'BEGIN{printf "%.2f", (b-a)/h}')}/" >>"$RESULTS"
    done
  done
  pid_is_ours "$SERVER_PID" || die "$name died during the run"
  stop_server
}

START_TS=$(date +%s)
for ((round = 1; round <= ROUNDS; round++)); do
  for server in $SERVERS; do bench_server "$server" "$round"; done
done
log "measured in $(($(date +%s) - START_TS)) s"

# Evidence that each server logged one line per answer, as it would in production.
log "log lines: dnsmasq $(grep -c . "$RUN_DIR/dnsmasq.log" 2>/dev/null || echo 0), garage-pxe $(grep -c 'dhcp.offer' "$RUN_DIR/garage-pxe.log" 2>/dev/null || echo 0)"

mkdir -p "$OUT"
cp "$RESULTS" "$OUT/proxy-dhcp.jsonl"
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) DURATION=$DURATION COUNT=$COUNT CONCURRENCY=\"$CONCURRENCY\" ROUNDS=$ROUNDS PIN=$PIN RT=$RT GPX_LOG_LEVEL=$GPX_LOG_LEVEL"
  "$PYTHON" "$HERE/proxy-dhcp-table.py" "$RESULTS"
} | tee "$OUT/proxy-dhcp.md"
