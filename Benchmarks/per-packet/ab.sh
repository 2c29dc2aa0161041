#!/usr/bin/env bash
# A/B of two garage-pxe builds on the proxyDHCP path, for checking a change on a machine
# that is not quiet: both daemons run at once (each in a namespace of its own, a veth pair
# to one client namespace) and take turns under pxe-cload, so a busy moment falls on both.
# Prints, per turn, replies/s and the server's CPU time per reply (utime+stime from
# /proc/PID/stat over the turn), the figure that load moves least.
#
#   Benchmarks/per-packet/ab.sh OLD_BINARY NEW_BINARY     (as root)
#   MODE=discover|request  CONC=16  DUR=4 (s a turn)  ROUNDS=5
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; MODE=${MODE:-discover}; CONC=${CONC:-16}; DUR=${DUR:-4}; ROUNDS=${ROUNDS:-5}
A=$1; B=$2
RUN=$(mktemp -d /tmp/gpxab.XXXX); T=$$; PIDS=(); NSS=()
cleanup(){ for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; sleep 0.5; for n in "${NSS[@]}"; do ip netns del $n 2>/dev/null; done; rm -rf $RUN; }
trap cleanup EXIT
C=gpxab-c$T; ip netns add $C; NSS+=($C); ip -n $C link set lo up
mkdir -p $RUN/menus $RUN/images $RUN/root; cp /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/snponly.efi /usr/lib/ipxe/ipxe.efi $RUN/root/
sed -e "s|^  root: /usr/lib/ipxe|  root: $RUN/root|" -e "s|^  menus: .*|  menus: $RUN/menus|" -e "s|^  images: .*|  images: $RUN/images|" $REPO/config/garage-pxe.yaml > $RUN/g.yaml
declare -A PID
i=0
for name in A B; do
  i=$((i+1)); bin=${!name}; S=gpxab-s$i-$T; ip netns add $S; NSS+=($S); ip -n $S link set lo up
  ip link add gpxab-s$i netns $S type veth peer name gpxab-c$i netns $C
  ip -n $S link set gpxab-s$i up; ip -n $C link set gpxab-c$i up
  ip -n $S addr add 10.85.$i.1/24 dev gpxab-s$i; ip -n $C addr add 10.85.$i.2/24 dev gpxab-c$i
  ip netns exec $S $bin serve --config $RUN/g.yaml --user root --interface gpxab-s$i --address 10.85.$i.1 --events log --state $RUN/state$i </dev/null >$RUN/$name.log 2>&1 &
  PID[$name]=$!; PIDS+=($!)
  for _ in $(seq 600); do ip netns exec $S ss -Hlun "sport = :4011" | grep -q . && break; sleep 0.1; done
done
CL=$REPO/Benchmarks/per-packet/.build/pxe-cload
mkdir -p "$(dirname "$CL")"
[[ -x $CL ]] || cc -O2 -Wall -Wextra -o "$CL" "$REPO/Benchmarks/cload/pxe-cload.c" -lcrypto
cpu(){ awk '{print $14+$15}' /proc/$1/stat; }
HZ=$(getconf CLK_TCK)
for r in $(seq $ROUNDS); do
  for name in A B; do
    i=1; [[ $name == B ]] && i=2
    c0=$(cpu ${PID[$name]})
    out=$(nsenter --net=/var/run/netns/$C $CL $MODE --server 10.85.$i.1 --interface gpxab-c$i --concurrency $CONC --duration $DUR)
    c1=$(cpu ${PID[$name]})
    valid=$(grep -o 'valid=[0-9]*' <<<"$out" | head -1 | cut -d= -f2); rate=$(grep -o 'replies_per_s=[0-9]*' <<<"$out" | cut -d= -f2)
    echo "round=$r $name rate=$rate us_per_reply=$(awk -v a=$c0 -v b=$c1 -v h=$HZ -v n=$valid 'BEGIN{printf "%.1f", (b-a)/h*1e6/n}')"
  done
done
