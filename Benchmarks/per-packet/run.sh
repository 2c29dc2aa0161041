#!/usr/bin/env bash
# Per-packet cost: lockstep TFTP and proxyDHCP, garage-pxe side by side with the C servers
# a workshop would otherwise run, each row measured by two load generators:
#  - pxe-cload (Benchmarks/cload/pxe-cload.c): C, written apart from every server and from
#    the project's Swift codecs; one epoll loop, a connected socket per transfer, recvmmsg,
#    streaming SHA-256 of every byte (OpenSSL's libcrypto), every transfer checked;
#  - the project's own Swift generators: tftp-load (Benchmarks/tftp) and pxe-loadgen
#    (Benchmarks/Sources/pxe-loadgen).
#
#   Benchmarks/per-packet/run.sh [OUTPUT.md]        (as root; ~10 minutes with ROUNDS=3)
#
# All four servers run at once, each in a network namespace of its own with its own veth
# pair (MTU 1500) to one client namespace; TFTP: garage-pxe, dnsmasq, tftpd-hpa, atftpd;
# proxyDHCP: garage-pxe, dnsmasq. Every row runs every server with every generator, the
# servers in a new random order each time (seeded: SEED), the generators too, and the
# whole set of rows ROUNDS times, so a busy moment of a shared machine falls on all alike.
# Rows marked "pinned" run the server (all its threads and children) and the generator on
# one CPU (the last), so they measure cost per packet rather than how two CPUs overlap;
# the others are unpinned. Server CPU comes from a cpuacct cgroup per server (so the
# children tftpd-hpa forks count); per GB of file bytes delivered, per valid reply.
#
# Knobs: ROUNDS (3), DURATION (4 s per proxyDHCP measurement), SEED, SKIP_BUILD=1,
# GPX_BIN (another garage-pxe build), SWIFT_GENERATORS=0 (pxe-cload only), ROWS (subset,
# by id: t1 t32 w1 w32 d1 d16 r1 r16; over a userspace link: tl0 wl0 (no loss, 0.1 ms each
# way, a LAN's round trip), and the loss rows tl2 wl2 tl5 wl5), REPEAT (4: how many times
# each client fetches its file in one measurement of t1, w1, wl2 and wl5: one fetch of the
# initrd lasts about a second, too short for a steady figure; one windowed fetch of
# snponly.efi over the lossy link lasts 50 ms, so whether a window's last packet or its ACK
# was lost (a retransmission timer) decided a whole measurement),
# GPX_VARIANTS="b=/path/to/garage-pxe c=/other/build" (more garage-pxe builds as servers of
# their own, garage-pxe-b, garage-pxe-c, in the same run: an A/B of a change gets the same
# machine and moments as its peers; each is compared with the best peer on its own).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/Benchmarks/per-packet"
OUT="${1:-$REPO/Benchmarks/out/per-packet.md}"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
SEED=${SEED:-$(date +%s)}
SKIP_BUILD=${SKIP_BUILD:-0}
SWIFT_GENERATORS=${SWIFT_GENERATORS:-1}
ROWS=${ROWS:-"t1 t32 w1 w32 d1 d16 r1 r16 tl0 wl0 tl2 wl2 tl5 wl5"}
REPEAT=${REPEAT:-4}
GPX="${GPX_BIN:-$REPO/.build/release/garage-pxe}"
declare -A GPX_OF=([garage-pxe]="$GPX")
GARAGES=(garage-pxe)
for variant in ${GPX_VARIANTS:-}; do
  [[ "$variant" == ?*=?* && -x "${variant#*=}" ]] || { echo "run.sh: GPX_VARIANTS wants name=/executable, not $variant" >&2; exit 2; }
  GPX_OF[garage-pxe-${variant%%=*}]="${variant#*=}"; GARAGES+=("garage-pxe-${variant%%=*}")
done
CLOAD="$HERE/.build/pxe-cload"
TFTP_LOAD="$REPO/Benchmarks/tftp/.build/release/tftp-load"
DHCP_LOAD="$HERE/.build/pxe-loadgen"
ATFTPD_DIR=${ATFTPD_DIR:-/var/cache/garage-pxe-bench/atftpd}
[[ "$(id -u)" -eq 0 ]] || { echo "run.sh: needs root (network namespaces)" >&2; exit 2; }

log() { echo "per-packet: $*" >&2; }

bash "$REPO/Benchmarks/tftp/install-peers.sh" >/dev/null
bash "$REPO/scripts/install-deps.sh" serve
INITRD=$(dpkg -L debian-installer-12-netboot-amd64 | grep '/text/debian-installer/amd64/initrd.gz$' | head -1)
[[ -f "$INITRD" ]] || { echo "run.sh: Debian initrd not found" >&2; exit 2; }

mkdir -p "$HERE/.build"
# The system C compiler, as the peers are built; -O2 as Debian builds them.
cc -O2 -Wall -Wextra -o "$CLOAD" "$REPO/Benchmarks/cload/pxe-cload.c" -lcrypto
# SKIP_BUILD=1 skips garage-pxe's build only (SwiftPM waits while another build of the
# same .build runs); the generators are small and always built.
if [[ "$SKIP_BUILD" != 1 ]]; then
  (cd "$REPO" && swift build -c release --product garage-pxe >/dev/null)
fi
if [[ "$SWIFT_GENERATORS" == 1 ]]; then
  (cd "$REPO/Benchmarks/tftp" && swift build -c release >/dev/null)
  # pxe-loadgen needs only the DHCP, UDP and NetworkAddresses modules (no package dependencies): compiled
  # here with swiftc, -O as SwiftPM's release, rather than by a second release build of
  # the whole root package in Benchmarks/.build.
  SW="$HERE/.build/swift"
  mkdir -p "$SW"
  SWFLAGS=(-O -wmo -swift-version 6 -parse-as-library -Xcc -fmodule-map-file="$REPO/Sources/CEpoll/module.modulemap")
  swiftc "${SWFLAGS[@]}" -module-name NetworkAddresses -emit-module -emit-module-path "$SW/NetworkAddresses.swiftmodule" -c "$REPO"/Sources/NetworkAddresses/*.swift -o "$SW/NetworkAddresses.o"
  SWFLAGS+=(-I "$SW")
  swiftc "${SWFLAGS[@]}" -module-name UDP -emit-module -emit-module-path "$SW/UDP.swiftmodule" -c "$REPO"/Sources/UDP/*.swift -o "$SW/UDP.o"
  swiftc "${SWFLAGS[@]}" -module-name DHCP -emit-module -emit-module-path "$SW/DHCP.swiftmodule" -c "$REPO"/Sources/DHCP/*.swift -o "$SW/DHCP.o"
  swiftc -O -swift-version 6 -I "$SW" -Xcc -fmodule-map-file="$REPO/Sources/CEpoll/module.modulemap" \
      "$REPO"/Benchmarks/Sources/pxe-loadgen/*.swift "$SW/NetworkAddresses.o" "$SW/UDP.o" "$SW/DHCP.o" -o "$DHCP_LOAD"
fi
GENS_TFTP=(pxe-cload); GENS_DHCP=(pxe-cload)
if [[ "$SWIFT_GENERATORS" == 1 ]]; then GENS_TFTP+=(tftp-load); GENS_DHCP+=(pxe-loadgen); fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RUN=$(mktemp -d /tmp/garage-pxe-per-packet.XXXXXX)
ROOT="$RUN/root"
mkdir -p "$ROOT"
cp "$INITRD" "$ROOT/initrd.gz"
cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/snponly.efi /usr/lib/ipxe/ipxe.efi "$ROOT/"
chmod -R a+rX "$RUN"
INITRD_BYTES=$(stat -c %s "$ROOT/initrd.gz")

TAG=$$
NS_CLI="gpxpp-c$TAG"
CGROOT=/sys/fs/cgroup/cpuacct
LAST_CPU=$(($(nproc) - 1))
PIDS=(); NAMESPACES=(); CGROUPS=()
# shellcheck source=../lib.sh
source "$REPO/Benchmarks/lib.sh"
cleanup() {
  local rc=$?
  undo_run
  rm -rf "$RUN"
  exit $rc
}
trap cleanup EXIT INT TERM

netns() { ip netns add "$1"; NAMESPACES+=("$1"); ip -n "$1" link set lo up; }
# The generators run through nsenter, not `ip netns exec`: that one mounts a sysfs of the
# namespace's own, where the cgroups pxe-cload reads are missing.
in_cli() { nsenter --net="/var/run/netns/$NS_CLI" "$@"; }

declare -A PID_OF ADDR_OF DEV_OF CG_OF
# start_server NAME INDEX: the server in a namespace of its own, on a veth pair (MTU 1500)
# to the client namespace; it also answers proxyDHCP (garage-pxe, dnsmasq).
start_server() {
  local name=$1 i=$2 ns="gpxpp-s$2-$TAG" dev="gpxpp-s$2" addr="10.87.$2.1"
  netns "$ns"
  ip link add "$dev" netns "$ns" type veth peer name "gpxpp-c$i" netns "$NS_CLI"
  ip -n "$ns" link set "$dev" up; ip -n "$NS_CLI" link set "gpxpp-c$i" up
  ip -n "$ns" addr add "$addr/24" dev "$dev"; ip -n "$NS_CLI" addr add "10.87.$i.2/24" dev "gpxpp-c$i"
  launch_server "$name" "$ns" "$dev" "$addr" "10.87.$i.0"
  DEV_OF[$name]="gpxpp-c$i"
}

# launch_server NAME NAMESPACE DEVICE ADDRESS [PROXY_SUBNET]: one server process, in its
# cpuacct cgroup; dnsmasq answers proxyDHCP only when PROXY_SUBNET is given.
launch_server() {
  local name=$1 ns=$2 dev=$3 addr=$4 subnet=${5:-} pid
  GPX_BINARY="${GPX_OF[$name]:-}" start_tftp_server "$name" "$ns" "$dev" "$addr" "$ROOT" "$RUN" "$subnet"
  pid=$STARTED_PID
  PIDS+=("$pid")
  PID_OF[$name]=$pid; ADDR_OF[$name]=$addr
  local cg="$CGROOT/gpxpp-$TAG-$name"
  [[ -d "$cg" ]] || { mkdir -p "$cg"; CGROUPS+=("$cg"); }
  CG_OF[$name]=$cg
  echo "$pid" >"$cg/cgroup.procs"
  for _ in $(seq 100); do
    ip netns exec "$ns" ss -Hlun "sport = :69" | grep -q . && return 0
    sleep 0.1
  done
  echo "run.sh: $name did not start" >&2; cat "$RUN/$name"-* >&2 || true; exit 1
}

netns "$NS_CLI"
SERVERS=("${GARAGES[@]}" dnsmasq tftpd-hpa atftpd)
for i in "${!SERVERS[@]}"; do start_server "${SERVERS[$i]}" $((i + 1)); done
for i in "${!GARAGES[@]}"; do
  for _ in $(seq 100); do
    ip netns exec "gpxpp-s$((i + 1))-$TAG" ss -Hlun "sport = :4011" | grep -q . && break
    sleep 0.1
  done
done

cpu_ns() { cat "${CG_OF[$1]}/cpuacct.usage"; }
# pin SERVER on|off: the server's threads (and children, which inherit it) on the last CPU.
pin() {
  local cpus=0-$LAST_CPU
  [[ $2 == on ]] && cpus=$LAST_CPU
  while read -r p; do taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || true; done <"${CG_OF[$1]}/cgroup.procs"
}

RESULTS="$RUN/results.txt"
: >"$RESULTS"
# measure ROUND ROW SERVER GENERATOR: one run; appends one normalised line to RESULTS.
measure() {
  local round=$1 row=$2 server=$3 gen=$4 pinned=0 clients=1 repeat=1 win=1 file=initrd.gz mode="" conc=1 line before after rc=0
  case "$row" in
    t1) pinned=1; repeat=$REPEAT ;;
    t32) clients=32 ;;
    w1) pinned=1; win=16; repeat=$REPEAT ;;
    w32) clients=32; win=16 ;;
    d1) pinned=1; mode=discover ;;
    d16) mode=discover; conc=16 ;;
    r1) pinned=1; mode=request ;;
    r16) mode=request; conc=16 ;;
    tl0) clients=4 ;;
    wl0) clients=4; win=8 ;;
    tl2|tl5) clients=4; file=snponly.efi ;;
    wl2|wl5) clients=4; file=snponly.efi; win=8; repeat=$REPEAT ;;
  esac
  local taskset=()
  if [[ $pinned == 1 ]]; then pin "$server" on; taskset=(taskset -c "$LAST_CPU"); fi
  before=$(cpu_ns "$server")
  if [[ -z "$mode" ]]; then
    case "$gen" in
      pxe-cload) line=$(in_cli "${taskset[@]}" "$CLOAD" tftp --server "${ADDR_OF[$server]}" --file "$file" --source "$ROOT/$file" \
                   --clients "$clients" --repeat "$repeat" --blksize 1468 --windowsize "$win" --timeout-ms 1000 --retries 10) || rc=$? ;;
      tftp-load) line=$(in_cli "${taskset[@]}" "$TFTP_LOAD" --server "${ADDR_OF[$server]}" --file "$file" --source "$ROOT/$file" \
                   --clients "$clients" --repeat "$repeat" --blksize 1468 --windowsize "$win" --timeout-ms 1000 --retries 10) || rc=$? ;;
    esac
    sleep 0.3   # tftpd-hpa's children exit (and are counted) after their last ACK
  else
    case "$gen" in
      pxe-cload) line=$(in_cli "${taskset[@]}" "$CLOAD" "$mode" --server "${ADDR_OF[$server]}" --interface "${DEV_OF[$server]}" \
                   --concurrency "$conc" --duration "$DURATION" --timeout-ms 1000) || rc=$? ;;
      pxe-loadgen) line=$(in_cli "${taskset[@]}" "$DHCP_LOAD" --mode "$mode" --server "${ADDR_OF[$server]}" --interface "${DEV_OF[$server]}" \
                   --concurrency "$conc" --count 2000000 --duration "$DURATION" --timeout-ms 1000 --boot-item 0x8000 | grep '^{') || rc=$? ;;
    esac
  fi
  after=$(cpu_ns "$server")
  [[ $pinned == 1 ]] && pin "$server" off
  printf 'round=%s row=%s server=%s gen=%s rc=%s cpu_s=%.3f file_bytes=%s %s\n' "$round" "$row" "$server" "$gen" "$rc" \
    "$(awk "BEGIN{print ($after-$before)/1e9}")" "$(stat -c %s "$ROOT/$file")" "$(tr '\n' ' ' <<<"$line")" | tee -a "$RESULTS" >&2
}

servers_for() {
  case "$1" in
    t1|t32|tl0|tl2|tl5) echo "${GARAGES[@]}" dnsmasq tftpd-hpa atftpd ;;
    w1|w32|wl0|wl2|wl5) echo "${GARAGES[@]}" atftpd ;;   # the others do not negotiate windowsize
    *) echo "${GARAGES[@]}" dnsmasq ;;
  esac
}
gens_for() { case "$1" in t*|w*) echo "${GENS_TFTP[@]}" ;; *) echo "${GENS_DHCP[@]}" ;; esac; }

# shuf's randomness from SEED, so a run's order can be repeated.
seeded() { openssl enc -aes-256-ctr -pass "pass:$SEED-$1" -nosalt </dev/zero 2>/dev/null | head -c 65536; }

# Warm-up: the file in the page cache, each server's first-touch allocations, ARP.
for server in "${SERVERS[@]}"; do
  in_cli "$CLOAD" tftp --server "${ADDR_OF[$server]}" --file undionly.kpxe --source "$ROOT/undionly.kpxe" --clients 4 >/dev/null
done
for server in "${GARAGES[@]}" dnsmasq; do
  in_cli "$CLOAD" discover --server "${ADDR_OF[$server]}" --interface "${DEV_OF[$server]}" --concurrency 4 --duration 0.5 >/dev/null
  in_cli "$CLOAD" request --server "${ADDR_OF[$server]}" --concurrency 4 --duration 0.5 >/dev/null
done

START=$(date +%s)
turn=0
# run_rows ROUND ROW...: every server of each row with every generator, in seeded order.
run_rows() {
  local round=$1 row server gen gens; shift
  for row in "$@"; do
    for server in $(shuf --random-source=<(seeded "$round-$row") -e $(servers_for "$row")); do
      turn=$((turn + 1))
      gens=($(gens_for "$row"))
      # Alternate which generator goes first.
      if ((turn % 2)); then gens=($(printf '%s\n' "${gens[@]}" | tac)); fi
      for gen in "${gens[@]}"; do measure "$round" "$row" "$server" "$gen"; done
    done
  done
}
LOSSLESS=(); LOSSY=()
for row in $ROWS; do case "$row" in tl*|wl*) LOSSY+=("$row") ;; *) LOSSLESS+=("$row") ;; esac; done
if ((${#LOSSLESS[@]})); then
  for round in $(seq "$ROUNDS"); do run_rows "$round" "${LOSSLESS[@]}"; done
fi
# Peak memory after the lossless rows (32 clients at once among them), before the loss
# rows restart the servers.
RSS=""
for server in "${SERVERS[@]}"; do
  RSS+="$server $(awk '/VmHWM/{printf "%.1f", $2/1024}' "/proc/${PID_OF[$server]}/status") MB; "
done

# Link rows: the same servers, restarted behind a userspace link each (no netem in this
# kernel): a TUN device in the client's and the server's namespace, a delay and a loss rate
# in each direction, the same seed for every server.
#  - 0 %, 0.1 ms each way: 4 clients fetch the initrd as 4 PCs on the bench LAN would, each
#    next ACK a round trip away (what a server that polls for the next packet pays);
#  - 2 % and 5 %, 1 ms: 4 clients fetch snponly.efi (as 4 UEFI PCs on a bad cable would).
# Lockstep and windowsize 8.
for pct in 0 2 5; do
  delay=1; [[ $pct == 0 ]] && delay=0.1
  rows=(); for row in "${LOSSY[@]}"; do [[ "$row" == ?l$pct ]] && rows+=("$row"); done
  ((${#rows[@]})) || continue
  old=(); for server in "${SERVERS[@]}"; do old+=("${PID_OF[$server]}"); done
  stop_pids "${old[@]}"
  links=()
  for i in "${!SERVERS[@]}"; do
    ns="gpxpp-l$pct-$i-$TAG"
    netns "$ns"
    python3 "$REPO/scripts/lossy-link/lossy_link.py" --ns-a "$NS_CLI" --ns-b "$ns" --device "gpxpl$i" \
      --addr-a "10.89.$i.1" --addr-b "10.89.$i.2" --loss "0.0$pct" --delay-ms "$delay" --seed 11 \
      --ready-file "$RUN/link-$pct-$i.ready" --max-seconds 3600 >"$RUN/link-$pct-$i.log" 2>&1 &
    PIDS+=($!); links+=($!)
    for _ in $(seq 100); do [[ -s "$RUN/link-$pct-$i.ready" ]] && break; sleep 0.1; done
    [[ -s "$RUN/link-$pct-$i.ready" ]] || { echo "run.sh: lossy link $i did not start" >&2; exit 1; }
    launch_server "${SERVERS[$i]}" "$ns" "gpxpl$i" "10.89.$i.2"
  done
  for round in $(seq "$ROUNDS"); do run_rows "$round" "${rows[@]}"; done
  old=(); for server in "${SERVERS[@]}"; do old+=("${PID_OF[$server]}"); done
  stop_pids "${old[@]}"
  # The links go with their rate: their TUN devices must leave the client namespace.
  stop_pids "${links[@]}"
done
log "measured in $(($(date +%s) - START)) s"


mkdir -p "$(dirname "$OUT")"
{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, kernel $(uname -r); load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "garage-pxe $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- Sources || echo '+uncommitted'), dnsmasq $(dpkg-query -W -f='${Version}' dnsmasq-base), tftpd-hpa $(dpkg-query -W -f='${Version}' tftpd-hpa), atftpd $(dpkg-deb -f "$ATFTPD_DIR"/atftpd_*.deb Version).${GPX_VARIANTS:+ Variants: $GPX_VARIANTS.} ROUNDS=$ROUNDS REPEAT=$REPEAT DURATION=$DURATION SEED=$SEED."
  echo "Peak RSS of the main process after the lossless rows (VmHWM; tftpd-hpa's per-transfer children not included): $RSS"
  echo
  python3 "$HERE/table.py" "$RESULTS"
} >"$OUT"
cp "$RESULTS" "${OUT%.md}.txt"
cat "$OUT"
