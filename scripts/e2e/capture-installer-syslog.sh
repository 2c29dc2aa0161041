#!/usr/bin/env bash
# Records what a real Debian installer sends to log_host (its syslog) for the unit-test
# fixtures under Tests/Fixtures/installer-syslog/: one BIOS PC boots the default entry in
# the private bench LAN (scripts/lab), tcpdump on the server's side of the LAN keeps every
# datagram to the syslog port, and the PC runs until the installer stops making progress
# (offline, the lab has no Debian mirror, so it fails at the mirror step) or SECONDS pass.
# The datagrams are then written one per line (bytes outside printable ASCII as \xNN) to OUT.
#
# With --fail-step UDEB, the test copy's preseed gets an early_command that replaces that
# installer component's postinst with `exit 3`: the real main-menu then runs it and logs
# its real "Configuring 'UDEB' failed with error code 3" line (the lab cannot make the
# installer fail on its own before it waits on the offline mirror question).
#
# With --through-proxy, the installer reaches Debian's archive through an HTTP proxy on the
# server (port 3128, a socat forwarder to deb.debian.org:80 whose far half runs in the
# host's network namespace: the only traffic that leaves the lab is the installer's own
# requests to the archive). It then gets past the mirror step, and stops where this lab stops every netboot
# installer: anna cannot fetch some of its own .udeb components (404 here) and waits on
# the "Réessayer / Changer de miroir / Annuler" dialog.
#
# Usage: capture-installer-syslog.sh OUT [SECONDS] [--fail-step UDEB | --through-proxy]   (default 600 s)
set -euo pipefail
OUT="$(realpath -m "$1")"
LIMIT="${2:-600}"
FAIL_STEP=""
THROUGH_PROXY=""
[[ "${3:-}" == --fail-step ]] && FAIL_STEP="${4:?--fail-step needs a udeb name}"
[[ "${3:-}" == --through-proxy ]] && THROUGH_PROXY=1
E2E_NAME=capture
if [[ -n "$FAIL_STEP" ]]; then
  e2e_customise() {
    printf 'd-i preseed/early_command string printf "#!/bin/sh\\nexit 3\\n" >/var/lib/dpkg/info/%s.postinst\n' "$FAIL_STEP" \
      >>"$RUN/menus/templates/preseed-debian.cfg.mustache"
  }
fi
if [[ -n "$THROUGH_PROXY" ]]; then
  e2e_customise() {
    # The preseed's last value wins: the test copy's proxy is the server's forwarder.
    printf 'd-i mirror/http/proxy string http://%s:3128/\n' "$LAB_SRV_ADDR" >>"$RUN/menus/templates/preseed-debian.cfg.mustache"
  }
fi
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_setup
if [[ -n "$THROUGH_PROXY" ]]; then
  # Two halves joined by a unix socket (a path crosses network namespaces): the server's
  # side listens in the lab, the host's side connects to the archive.
  sock="$RUN/archive-proxy.sock"
  socat UNIX-LISTEN:"$sock",fork TCP:deb.debian.org:80 >"$RUN/archive-proxy.log" 2>&1 &
  E2E_PIDS=("$!" "${E2E_PIDS[@]}")
  ip netns exec "$LAB_NS_SRV" socat TCP-LISTEN:3128,bind="$LAB_SRV_ADDR",fork,reuseaddr UNIX-CONNECT:"$sock" \
    >>"$RUN/archive-proxy.log" 2>&1 &
  E2E_PIDS=("$!" "${E2E_PIDS[@]}")
fi

pcap="$RUN/installer-syslog.pcap"
ip netns exec "$LAB_NS_SRV" tcpdump -i "$LAB_SRV_IF" -U -w "$pcap" udp port 514 >"$RUN/tcpdump.log" 2>&1 &
tcpdump_pid=$!
E2E_PIDS=("$tcpdump_pid" "${E2E_PIDS[@]}")
start_pc pc1 bios "$((LIMIT + 30))"

# Quiet for CAPTURE_QUIET_SECONDS (default 90) after the installer started (it waits on a
# question; under TCG on a busy machine the preseed fetch alone can be quieter than 90 s), or a
# "failed with error code" line and 20 s more, or the limit.
deadline=$((SECONDS + LIMIT))
last_size=-1 quiet_since=$SECONDS failed_at=""
while ((SECONDS < deadline)); do
  size="$(stat -c %s "$pcap" 2>/dev/null || echo 0)"
  if [[ "$size" != "$last_size" ]]; then last_size="$size"; quiet_since=$SECONDS; fi
  if [[ -z "$failed_at" ]] && tcpdump -r "$pcap" -A 2>/dev/null | grep -q "failed with error code"; then failed_at=$SECONDS; fi
  [[ -n "$failed_at" ]] && ((SECONDS - failed_at > 20)) && break
  ((size > 24)) && ((SECONDS - quiet_since > ${CAPTURE_QUIET_SECONDS:-90})) && break
  sleep 5
done
"$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" pc1 stop >/dev/null 2>&1 || true
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true

# Classic pcap, Ethernet + IPv4 + UDP: the payload of each frame, one line each.
"$E2E_PYTHON" - "$pcap" "$OUT" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "w")
offset, count = 24, 0
while offset + 16 <= len(data):
    _, _, caplen, _ = struct.unpack_from("<IIII", data, offset)
    frame = data[offset + 16: offset + 16 + caplen]
    offset += 16 + caplen
    ihl = (frame[14] & 0x0F) * 4
    payload = frame[14 + ihl + 8:]
    line = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else "\\x%02x" % b for b in payload)
    out.write(line + "\n")
    count += 1
print("e2e[capture]: %d datagrams written to %s" % (count, sys.argv[2]))
EOF
# What garage-pxe made of it: the PC's milestones (the raw lines left out).
journalctl -q -D "$E2E_JOURNAL" -o cat GARAGE_PXE_EVENT=installer.started + GARAGE_PXE_EVENT=installer.step \
  + GARAGE_PXE_EVENT=installer.stalled + GARAGE_PXE_EVENT=installer.resumed + GARAGE_PXE_EVENT=installer.failed || true
E2E_KEEP_LOGS=1
