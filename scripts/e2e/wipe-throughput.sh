#!/usr/bin/env bash
# Issue 19's throughput target, measured: does the agent's erase cost more than the disk
# imposes? On a loop device over a file in /var/tmp (the host's disk, --direct-io=on so
# the loop reads and writes the file with O_DIRECT, not the page cache), rounds of:
#   (before each write pass, dd's and the agent's: the pattern written over the disk)
#   dd zeros   dd if=/dev/zero of=LOOP bs=4M count=MIB/4 oflag=direct conv=fsync
#   agent      pxe-wipe/garage-pxe-agent.sh, mode=erase, countdown 0, GARAGE_PXE_DISKS=LOOP:
#              its own write pass and full read-back (it prints both, from /proc/uptime)
#   plain read dd if=LOOP of=/dev/null bs=4M iflag=direct
# and prints MB/s and the ratios (targets: write >= 0.9 x dd, read-back >= 0.9 x plain read).
# A measurement, never a pass/fail: the machine is shared, the figures are what they are.
# Every round is printed, then the median and range of each ratio.
# Usage: wipe-throughput.sh [MIB [DIR [ROUNDS]]]   (default 1024 MiB in /var/tmp, 2 rounds;
#        root for losetup). DIR=/dev/shm measures the agent's own cost (memory, no disk).
# DISK_MBPS=N: the loop device reads and writes at most N MB/s (the kernel's block
# throttle, blkio or io cgroup, for this script and all it starts), so it behaves as a
# disk of that speed rather than as the host's disk behind its cache, whose plain reads
# here range from 0.9 to 3.1 GB/s from one round to the next: e.g. 550 (a SATA SSD) or
# 150 (a hard disk). The ratios then say whether the erase keeps up with such a disk.
set -euo pipefail
MIB="${1:-1024}"
[[ "$MIB" =~ ^[0-9]+$ && $((MIB % 4)) -eq 0 && MIB -gt 0 ]] || { echo "usage: $0 [MIB, a multiple of 4]" >&2; exit 2; }
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${2:-/var/tmp}"
ROUNDS="${3:-2}"
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || { echo "ROUNDS: 1 to 99" >&2; exit 2; }
work="$(mktemp -d "$DIR/garage-pxe-wipe-throughput.XXXXXX")"
loop=""
cgroup=""
cleanup() {
  if [[ -n "$cgroup" ]]; then
    echo $$ >"$(dirname "$cgroup")/cgroup.procs" 2>/dev/null || true
    rmdir "$cgroup" 2>/dev/null || true
  fi
  [[ -n "$loop" ]] && losetup -d "$loop" 2>/dev/null; rm -rf -- "$work"
}
trap cleanup EXIT
size=$((MIB << 20))
pattern() { { yes "DONNEES-DU-DONATEUR" || true; } | head -c "$size"; }
pattern >"$work/disk.img"
# tmpfs has no O_DIRECT: there the loop device goes through the page cache (memory speed).
loop="$(losetup -f --show --direct-io=on "$work/disk.img" 2>/dev/null || losetup -f --show "$work/disk.img")"
if [[ -n "${DISK_MBPS:-}" ]]; then
  [[ "$DISK_MBPS" =~ ^[1-9][0-9]*$ ]] || { echo "DISK_MBPS: a whole number of MB/s" >&2; exit 2; }
  bps=$((DISK_MBPS * 1000000)) dev="$(lsblk -dno MAJ:MIN "$loop" | tr -d ' ')"
  if [[ -e /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device ]]; then   # cgroup v1 (hybrid)
    cgroup="/sys/fs/cgroup/blkio/garage-pxe-wipe-throughput-$$"
    mkdir "$cgroup"
    echo "$dev $bps" >"$cgroup/blkio.throttle.read_bps_device"
    echo "$dev $bps" >"$cgroup/blkio.throttle.write_bps_device"
  elif grep -qw io /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then     # cgroup v2
    echo +io >/sys/fs/cgroup/cgroup.subtree_control
    cgroup="/sys/fs/cgroup/garage-pxe-wipe-throughput-$$"
    mkdir "$cgroup"
    echo "$dev rbps=$bps wbps=$bps" >"$cgroup/io.max"
  else
    echo "DISK_MBPS: no blkio or io cgroup controller here" >&2; exit 2
  fi
  echo $$ >"$cgroup/cgroup.procs"
fi
printf 'garage_pxe.server=http://127.0.0.1:9 garage_pxe.mac=52:54:00:00:00:01 garage_pxe.token=0 garage_pxe.mode=erase garage_pxe.countdown=0\n' >"$work/cmdline"

now() { date +%s.%N; }
rate() { echo "scale=1; $size / 1000000 / ($2 - $1)" | bc; }
fill() { pattern | dd of="$loop" bs=4M oflag=direct status=none; }
# Each write pass (dd's and the agent's) starts right after the pattern is written, alike.
dd_zeros() { fill; t0=$(now); dd if=/dev/zero of="$loop" bs=4M count=$((MIB / 4)) oflag=direct conv=fsync status=none; t1=$(now); dd_write=$(rate "$t0" "$t1"); }
plain_read() { t0=$(now); dd if="$loop" of=/dev/null bs=4M iflag=direct status=none; t1=$(now); plain=$(rate "$t0" "$t1"); }
agent() {
  fill
  GARAGE_PXE_CMDLINE="$work/cmdline" GARAGE_PXE_DISKS="$loop" sh "$REPO/pxe-wipe/garage-pxe-agent.sh" >"$work/agent.log" 2>&1 || true
}
# median and range of a list of numbers
summary() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit; m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "median %.2fx, range %.2f-%.2fx over %d rounds", m, v[1], v[NR], NR }'; }
echo "throughput on $loop (direct I/O: $(cat "/sys/block/${loop#/dev/}/loop/dio"), file $work/disk.img on $(df --output=source "$work" | tail -n 1))${DISK_MBPS:+, throttled to $DISK_MBPS MB/s}, $MIB MiB:"
: >"$work/write.ratios"; : >"$work/read.ratios"
for round in $(seq 1 "$ROUNDS"); do
  # Interleaved, the order swapped every round: the host's load drifts, and both sides of
  # each ratio see it alike (odd rounds: dd, plain read, agent; even: agent, dd, plain read).
  if ((round % 2)); then dd_zeros; plain_read; agent; else agent; dd_zeros; plain_read; fi
  # "garage-pxe: write pass /dev/loopN: SIZE bytes from T0 s to T1 s (uptime)"
  agent_write=$(sed -nE 's/.*write pass [^ ]+ [0-9]+ bytes from ([0-9.]+) s to ([0-9.]+) s.*/\1 \2/p' "$work/agent.log")
  agent_read=$(sed -nE 's/.*read-back [^ ]+ [0-9]+ bytes from ([0-9.]+) s to ([0-9.]+) s.*/\1 \2/p' "$work/agent.log")
  verdict=$(sed -nE 's/.*garage-pxe: disk [^ ]+ \([^)]*\): (.*)$/\1/p' "$work/agent.log")
  if [[ -z "$agent_write" || -z "$agent_read" ]]; then
    echo "round $round: the agent printed no timing lines:"; cat "$work/agent.log"; continue
  fi
  # shellcheck disable=SC2086
  aw=$(rate $agent_write); ar=$(rate $agent_read)
  wr=$(echo "$aw / $dd_write" | bc -l); rr=$(echo "$ar / $plain" | bc -l)
  echo "$wr" >>"$work/write.ratios"; echo "$rr" >>"$work/read.ratios"
  printf 'round %s: dd zeros %s MB/s, agent write %s MB/s (%.2fx dd); plain read %s MB/s, agent read-back %s MB/s (%.2fx plain); agent: %s\n' \
    "$round" "$dd_write" "$aw" "$wr" "$plain" "$ar" "$rr" "$verdict"
done
echo "write pass / dd zeros: $(summary <"$work/write.ratios"); read-back / plain read: $(summary <"$work/read.ratios")"
