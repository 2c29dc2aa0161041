#!/usr/bin/env bash
# `make demo`: garage-pxe installing Debian on a virtual PC, on a virtual bench LAN that
# exists only inside network namespaces this script creates and deletes. Nothing touches
# the host's own network interfaces.
#
# It starts the LAN (a plain DHCP server like an ISP box, a bridge, the PXE server's
# host), imports Debian's netboot installer, starts garage-pxe with the repository's
# config and menus, powers on one virtual PC and shows its progress live: the
# `garage-pxe machines` view, the daemon's events for that PC and the end of the PC's
# screen. The bench page is forwarded to the host's loopback (http://127.0.0.1:8099/ by
# default) so a browser on this machine can watch it. Ctrl-C (or the time limit) stops
# everything and removes the LAN.
#
# Usage: demo.sh [bios|uefi|uefi-sb] [SECONDS]     (needs root; `make demo` runs it with sudo)
# Environment: DEMO_BENCH_PORT (host loopback port of the bench page, default 8099).
set -euo pipefail
MODE="${1:-bios}"
LIMIT="${2:-900}"
[[ "$MODE" == bios || "$MODE" == uefi || "$MODE" == uefi-sb ]] || { echo "usage: $0 [bios|uefi|uefi-sb] [SECONDS]" >&2; exit 2; }
E2E_NAME=demo
# The shipped menu, with its timeout cut to 5 s so the default entry starts soon.
E2E_MENU_TIMEOUT="${DEMO_MENU_TIMEOUT:-5}"
# shellcheck source=e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e/lib.sh"

echo "demo: creating the virtual bench LAN and starting garage-pxe..."
e2e_setup
echo "demo: garage-pxe runs at $LAB_SRV_ADDR (HTTP :$LAB_HTTP_PORT) inside netns $LAB_NS_SRV; log $E2E_DAEMON_LOG"
# The bench page, reachable from the host: socat listens on the host's loopback only and
# carries each connection into the bench LAN's namespace (no route, no host interface).
bench_port="${DEMO_BENCH_PORT:-8099}"
bench_url=""
if command -v socat >/dev/null; then
  socat "TCP-LISTEN:$bench_port,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:ip netns exec $LAB_NS_SRV socat STDIO TCP\:$LAB_SRV_ADDR\:$LAB_HTTP_PORT" >"$RUN/bench-forward.log" 2>&1 &
  E2E_PIDS+=($!)
  bench_url="http://127.0.0.1:$bench_port/"
fi
start_pc pc1 "$MODE" "$LIMIT"
mac="$MAC_pc1"
on="$POWER_ON_pc1"
serial="$RUN/vm-pc1.serial.log"
started=""
# Refreshing view, bounded by LIMIT (and by the VM's own limit).
deadline=$((SECONDS + LIMIT))
while ((SECONDS < deadline)) && kill -0 "$VMPID_pc1" 2>/dev/null; do
  now="$(date +%s.%N)"
  if [[ -z "$started" ]] && has_event "$mac" installer.started; then started="$(first_event_time "$mac" installer.started || true)"; fi
  { # (display only: a failing grep must not end the demo)
    printf '\033[H\033[2J'
    printf 'garage-pxe demo - virtual %s PC %s - %.0f s since power-on   (Ctrl-C stops and cleans up)\n' \
      "$MODE" "$mac" "$(echo "$now - $on" | bc)"
    [[ -n "$bench_url" ]] && echo "Bench page (live, in a browser on this machine): $bench_url"
    echo
    echo "garage-pxe machines:"
    "$E2E_BIN" machines --directory "$E2E_JOURNAL" 2>/dev/null | cut -c1-160 | sed 's/^/  /'
    echo
    echo "Daemon events for this PC (newest last):"
    pc_events "$mac" | grep -v '^installer.log' | tail -14 | cut -c1-160 | sed 's/^/  /'
    steps="$(pc_events "$mac" | grep -c '^installer.log' || true)"
    echo
    echo "Installer syslog lines received: $steps"
    pc_events "$mac" | grep '^installer.log' | tail -4 | sed -E 's/^.* message=(.*) at=[^ ]+$/\1/' | cut -c1-160 | sed 's/^/  /'
    if [[ -n "$started" ]]; then
      printf '\nThe Debian installer started (preseed fetched) %.1f s after power-on.\n' "$(echo "$started - $on" | bc)"
      echo "Offline, it will stop later at the mirror step: that is expected in the demo."
    fi
    echo
    echo "PC screen (serial console, last lines):"
    sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$serial" 2>/dev/null | tr -d '\r\b' | grep -v '^\s*$' | tail -8 | cut -c1-120 | sed 's/^/  | /'
  } || true
  sleep 2
done
echo "demo: stopped (Ctrl-C, the PC powered off, or the time limit); cleaning up."
