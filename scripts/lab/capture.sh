#!/usr/bin/env bash
# Packet capture on the srv namespace's interface of the bench-LAN lab.
#
# Why on srv/eth0: that is exactly what the PXE server under test sees: all
# broadcasts on the bridge (client DISCOVERs, ISP broadcasts) plus unicast to
# and from 10.77.0.2 (REQUESTs to :4011, TFTP RRQs, HTTP).
#
# Usage:
#   capture.sh PREFIX start FILE   start tcpdump in the background, writing FILE
#   capture.sh PREFIX stop FILE    stop it (SIGTERM; tcpdump flushes the file)
# Output is classic pcap (tcpdump -w), not pcapng, so simple readers work.
# Default filter: udp ports 67,68,69,4011 and tcp 80,8080. Note that TFTP data
# after the RRQ uses ephemeral ports and is therefore not captured by default.
# Environment:
#   CAPTURE_FILTER='bpf expr'   replace the default filter (e.g. 'udp' for TFTP data)
#   CAPTURE_IF=eth0             interface inside ${PREFIX}-srv
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -eq 3 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
lab_set_names "$1"
action="$2"
file="$3"
require_root

# Absolute path, so the pidfile key does not depend on the caller's cwd.
case "$file" in /*) ;; *) file="$PWD/$file" ;; esac
# One pidfile per output file, so several captures can run side by side.
key="$(printf '%s' "$file" | md5sum | cut -c1-10)"
PIDFILE="$RUN_DIR/capture-$key.pid"
ERRLOG="$RUN_DIR/capture-$key.log"
IFACE="${CAPTURE_IF:-$LAB_SRV_IF}"
FILTER="${CAPTURE_FILTER:-udp port 67 or udp port 68 or udp port 69 or udp port 4011 or tcp port 80 or tcp port 8080}"

start() {
  ns_exists "$NS_SRV" || die "netns $NS_SRV missing: run lab.sh up $PREFIX first"
  pid_is_ours "$PIDFILE" && die "a capture to $file is already running"
  mkdir -p "$(dirname "$file")"
  : >"$ERRLOG"
  # -U: write each packet at once (a test may read the file while it grows).
  # -Z root: Debian's tcpdump otherwise drops to user "tcpdump", which may not
  #   be allowed to write FILE. -n: no name lookups. -s 0: whole packets.
  # -F FILE: the filter is read from a file in RUN_DIR. Besides avoiding
  #   quoting trouble, this puts RUN_DIR into tcpdump's argv, which is how
  #   pid_is_ours() (lib.sh) recognizes the process when stopping it.
  printf '%s\n' "$FILTER" >"$RUN_DIR/capture-$key.bpf"
  ip netns exec "$NS_SRV" tcpdump -i "$IFACE" -n -U -Z root -s 0 \
    -w "$file" -F "$RUN_DIR/capture-$key.bpf" \
    </dev/null >/dev/null 2>"$ERRLOG" &
  echo $! >"$PIDFILE"
  wait_pid_ours "$PIDFILE" 5 || true
  # tcpdump prints "listening on ..." once the socket and filter are live;
  # only then is it safe to start the traffic we want to capture.
  if ! wait_for_file_match "$ERRLOG" 'listening on' 10; then
    cat "$ERRLOG" >&2
    stop_pidfile "$PIDFILE" TERM 3
    die "tcpdump did not start"
  fi
  log "capturing on $NS_SRV/$IFACE to $file (pid $(cat "$PIDFILE"))"
}

stop() {
  # SIGTERM (not SIGINT: a background job of a non-interactive shell ignores
  # SIGINT) makes tcpdump flush the file and print its packet counts.
  stop_pidfile "$PIDFILE" TERM 5
  [[ -f "$ERRLOG" ]] && grep -E 'packets (captured|received|dropped)' "$ERRLOG" | sed 's/^/capture: /' >&2 || true
  rm -f -- "$ERRLOG" "$RUN_DIR/capture-$key.bpf"
  [[ -f "$file" ]] && log "capture saved: $file"
  return 0
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) die "action must be start or stop" ;;
esac
