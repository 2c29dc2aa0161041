#!/usr/bin/env bash
# TFTP benchmark: garage-pxe against tftpd-hpa (in.tftpd) and dnsmasq's TFTP, same files,
# same load generator (tftp-load, a client written apart from the server), one run.
#
#   Benchmarks/tftp/run.sh [OUTPUT.md]      (as root; about 6-8 minutes)
#
# Everything runs in network namespaces this script creates and deletes. Each server has
# its own namespace and its own link to one client namespace, and the servers take turns
# row by row, so a busy moment of the machine hits all three alike:
#  - lossless rows: a veth pair per server (MTU 9000, so blksize 8192 needs no fragments);
#    one client fetching the ~40 MB Debian initrd at blksize 512, 1468 and 8192 with
#    windowsize 1, 8 and 16 where the server negotiates it (three times; the median is
#    kept), then 32 and 64 concurrent clients fetching it;
#  - loss rows: a userspace lossy link per server (a TUN device at each end, 1 ms delay,
#    2 % then 5 % loss in each direction, the same seed for every server); 4 clients
#    fetching snponly.efi.
# Each row records aggregate MB/s, p50/p99 per transfer, failures, the server's peak
# resident memory (all its processes: tftpd-hpa forks one per transfer) and its CPU
# seconds (from a cpuacct cgroup, so the children tftpd-hpa forks are counted too).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH="$REPO/Benchmarks/tftp"
OUT="${1:-$BENCH/out/results.md}"
REPEATS=${REPEATS:-3}
[[ "$(id -u)" -eq 0 ]] || { echo "run.sh: needs root (network namespaces)" >&2; exit 2; }

bash "$BENCH/install-peers.sh"
bash "$REPO/scripts/install-deps.sh" serve
INITRD=$(dpkg -L debian-installer-12-netboot-amd64 | grep '/text/debian-installer/amd64/initrd.gz$' | head -1)
[[ -f "$INITRD" ]] || { echo "run.sh: Debian initrd not found" >&2; exit 2; }

(cd "$REPO" && swift build -c release --product garage-pxe >/dev/null)
(cd "$BENCH" && swift build -c release >/dev/null)
GPX="$REPO/.build/release/garage-pxe"
LOAD="$BENCH/.build/release/tftp-load"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RUN=$(mktemp -d /tmp/garage-pxe-tftp-bench.XXXXXX)
ROOT="$RUN/root"
mkdir -p "$ROOT"
# Copies, so all three servers read the very same files from the same page cache.
cp "$INITRD" "$ROOT/initrd.gz"
cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/snponly.efi "$ROOT/"
cp /usr/lib/ipxe/snponly.efi "$ROOT/ipxe.efi"
chmod -R a+rX "$RUN"

SERVERS=(garage-pxe tftpd-hpa dnsmasq)
# Servers and load generator run at the default priority, as under systemd. A higher one
# (nice -n -10, set by NICE=...) is not applied alike: libdispatch gives each of its worker
# threads the nice value of its queue's QoS (0 for the default QoS), whatever the process's,
# so garage-pxe's transfer threads would stay at 0 while tftpd-hpa, dnsmasq and the load
# generator ran at -10 (seen with `ps -L -o tid,ni,comm`); on two shared cores that weighs
# about 9 to 1 against garage-pxe. Use it only to compare against an earlier run with it.
NICE="${NICE:-}"
TAG=$$
NS_CLI="gpxtb-c$TAG"
CGROOT=/sys/fs/cgroup/cpuacct
PIDS=()
NAMESPACES=()
CGROUPS=()
# shellcheck source=../lib.sh
source "$REPO/Benchmarks/lib.sh"
cleanup() {
  local rc=$?
  undo_run
  exit $rc
}
trap cleanup EXIT INT TERM

netns() { ip netns add "$1"; NAMESPACES+=("$1"); ip -n "$1" link set lo up; }

declare -A SERVER_PID SERVER_ADDR SERVER_NS
# start_server NAME NAMESPACE INTERFACE ADDRESS
start_server() {
  local name=$1 ns=$2 dev=$3 addr=$4 pid
  case "$name" in
    garage-pxe)
      cat >"$RUN/garage-pxe-$ns.yaml" <<YAML
network: {interface: $dev, address: $addr}
tftp: {root: $ROOT}
paths: {menus: $RUN, images: $RUN}
limits: {max_tftp_transfers: 64, max_tftp_transfers_per_client: 64, tftp_max_blksize: 8192, tftp_max_windowsize: 16}
YAML
      $NICE ip netns exec "$ns" "$GPX" serve --config "$RUN/garage-pxe-$ns.yaml" --user root >"$RUN/$name-$ns.log" 2>&1 &
      pid=$! ;;
    tftpd-hpa)
      # As Debian ships it (1 s retransmit), with the same 8192 cap on blksize.
      $NICE ip netns exec "$ns" /usr/sbin/in.tftpd --listen --foreground --address "$addr:69" --secure \
        --blocksize 8192 "$ROOT" >"$RUN/$name-$ns.log" 2>&1 &
      pid=$! ;;
    dnsmasq)
      # tftp-max raised from its default 50, or the 64-client row would fail by design.
      $NICE ip netns exec "$ns" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --user=root \
        --enable-tftp --tftp-root="$ROOT" --tftp-max=128 --interface="$dev" --bind-interfaces \
        --pid-file="$RUN/dnsmasq-$ns.pid" --log-facility="$RUN/$name-$ns.log" &
      pid=$! ;;
  esac
  PIDS+=("$pid")
  SERVER_PID[$name]=$pid; SERVER_ADDR[$name]=$addr; SERVER_NS[$name]=$ns
  if [[ -d "$CGROOT" ]]; then
    local cg="$CGROOT/gpxtb-$TAG-$name"
    mkdir -p "$cg"; CGROUPS+=("$cg")
    echo "$pid" >"$cg/cgroup.procs"
  fi
  for _ in $(seq 100); do
    ip netns exec "$ns" ss -uln 2>/dev/null | grep -q ":69 " && return 0
    sleep 0.1
  done
  echo "run.sh: $name did not start" >&2; cat "$RUN/$name-$ns.log" >&2; exit 1
}

stop_servers() {
  for name in "${SERVERS[@]}"; do
    local pid=${SERVER_PID[$name]}
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

cpu_ns() { cat "$CGROOT/gpxtb-$TAG-$1/cpuacct.usage" 2>/dev/null || echo 0; }

RESULTS="$RUN/results.txt"
: >"$RESULTS"
# row SERVER ROW REPEAT FILE CLIENTS BLKSIZE WINDOWSIZE
row() {
  local server=$1 label=$2 rep=$3 file=$4 clients=$5 blk=$6 win=$7 line before after
  before=$(cpu_ns "$server")
  line=$($NICE ip netns exec "$NS_CLI" "$LOAD" --server "${SERVER_ADDR[$server]}" --file "$file" --source "$ROOT/$file" \
    --clients "$clients" --blksize "$blk" --windowsize "$win" --timeout-ms 1000 --retries 10 \
    --watch-pid "${SERVER_PID[$server]}" --label "$label")
  after=$(cpu_ns "$server")
  if [[ "$before" != 0 || "$after" != 0 ]]; then
    line=$(sed -E "s/server_cpu_s=[0-9.]+/server_cpu_s=$(awk "BEGIN{printf \"%.2f\", ($after-$before)/1e9}")/" <<<"$line")
  fi
  echo "server=$server repeat=$rep $line" | tee -a "$RESULTS"
}
# Neither peer negotiates windowsize (tftpd-hpa 5.2, dnsmasq 2.90): lockstep rows only.
supports() { [[ "$1" == garage-pxe || "$2" == 1 ]]; }

# Lossless: one veth pair per server.
netns "$NS_CLI"
i=0
for server in "${SERVERS[@]}"; do
  i=$((i + 1))
  ns="gpxtb-s$i-$TAG"
  netns "$ns"
  ip link add "gpxtb-s$i" netns "$ns" type veth peer name "gpxtb-c$i" netns "$NS_CLI"
  ip -n "$ns" link set "gpxtb-s$i" mtu 9000 up; ip -n "$NS_CLI" link set "gpxtb-c$i" mtu 9000 up
  ip -n "$ns" addr add "10.88.$i.1/24" dev "gpxtb-s$i"; ip -n "$NS_CLI" addr add "10.88.$i.2/24" dev "gpxtb-c$i"
  start_server "$server" "$ns" "gpxtb-s$i" "10.88.$i.1"
done
for rep in $(seq "$REPEATS"); do
  for blk in 512 1468 8192; do
    for win in 1 8 16; do
      for server in "${SERVERS[@]}"; do
        supports "$server" "$win" && row "$server" "1 client, blksize $blk, windowsize $win" "$rep" initrd.gz 1 "$blk" "$win"
      done
    done
  done
done
for n in 32 64; do
  for win in 1 8; do
    for server in "${SERVERS[@]}"; do
      supports "$server" "$win" && row "$server" "$n clients, blksize 1468, windowsize $win" 1 initrd.gz "$n" 1468 "$win"
    done
  done
done
stop_servers

# Loss: one lossy link per server, from the client namespace, for each loss rate.
LINKS=()
for loss in 0.02 0.05; do
  pct=$(awk "BEGIN{print int($loss*100)}")
  i=0
  for server in "${SERVERS[@]}"; do
    i=$((i + 1))
    ns="gpxtb-l$pct-$i-$TAG"
    netns "$ns"
    python3 "$REPO/scripts/lossy-link/lossy_link.py" --ns-a "$NS_CLI" --ns-b "$ns" --device "lossy$i" \
      --addr-a "10.89.$i.1" --addr-b "10.89.$i.2" --loss "$loss" --delay-ms 1 --seed 11 \
      --ready-file "$RUN/link-$pct-$i.ready" --max-seconds 900 >"$RUN/link-$pct-$server.log" 2>&1 &
    PIDS+=($!)
    LINKS+=($!)
    for _ in $(seq 100); do [[ -s "$RUN/link-$pct-$i.ready" ]] && break; sleep 0.1; done
    start_server "$server" "$ns" "lossy$i" "10.89.$i.2"
  done
  for win in 1 8; do
    for server in "${SERVERS[@]}"; do
      supports "$server" "$win" && row "$server" "loss $pct %, 4 clients, snponly.efi, blksize 1468, windowsize $win" 1 snponly.efi 4 1468 "$win"
    done
  done
  stop_servers
  # The links go with their rate: their TUN devices must leave the client namespace.
  for pid in "${LINKS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LINKS[@]}"; do for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; done
  LINKS=()
  for i in 1 2 3; do ip netns del "gpxtb-l$pct-$i-$TAG" 2>/dev/null || true; done
done

mkdir -p "$(dirname "$OUT")"
{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r); load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "garage-pxe $(git -C "$REPO" rev-parse --short HEAD), tftpd-hpa $(dpkg-query -W -f='${Version}' tftpd-hpa), dnsmasq $(dpkg-query -W -f='${Version}' dnsmasq-base)."
  echo
  python3 "$BENCH/table.py" "$RESULTS"
} >"$OUT"
cp "$RESULTS" "${OUT%.md}.txt"
cat "$OUT"
