#!/usr/bin/env bash
# End to end with real firmware: one virtual PC boots from the network on a private
# bench LAN (scripts/lab), gets its address from a plain DHCP server that knows nothing
# of PXE, and its boot file from garage-pxe's proxyDHCP. Passes when the PC fetched what
# garage-pxe told it to:
#   bios: SeaBIOS + QEMU's iPXE ROM is iPXE already -> GET /boot.ipxe over HTTP
#   uefi: OVMF's EDK2 PXE -> TFTP ipxe.efi -> iPXE DHCPs again (loop break, :4011)
#         -> GET /boot.ipxe over HTTP
# and iPXE ran garage-pxe's first script, which came back for the PC's own menu
# (GET /boot.ipxe?mac=…: event menu.shown). proxyDHCP, TFTP and HTTP are all garage-pxe's.
#
# Usage: proxy-boot.sh bios|uefi [SECONDS]
# Environment: GARAGE_PXE_BIN (default .build/debug/garage-pxe), E2E_KEEP_LOGS=1
set -euo pipefail

MODE="${1:-}"
LIMIT="${2:-240}"
[[ "$MODE" == bios || "$MODE" == uefi ]] || { echo "usage: $0 bios|uefi [SECONDS]" >&2; exit 2; }
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LAB="$REPO/scripts/lab"
BIN="${GARAGE_PXE_BIN:-$REPO/.build/debug/garage-pxe}"
[[ -x "$BIN" ]] || { echo "e2e: $BIN is not built (swift build)" >&2; exit 2; }
[[ "$(id -u)" -eq 0 ]] || { echo "e2e: needs root for network namespaces" >&2; exit 2; }

# A prefix of our own so parallel runs (bios and uefi) never share a namespace.
PREFIX="e2e${MODE:0:1}$((RANDOM % 10000))"
eval "$("$LAB/lab.sh" env "$PREFIX")"
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 || "${E2E_KEEP_LOGS:-0}" == 1 ]]; then
    keep="/tmp/garage-pxe-e2e-$MODE-logs"
    rm -rf "$keep"; mkdir -p "$keep"; cp -r "$LAB_RUN_DIR"/*.log "$keep"/ 2>/dev/null || true
    echo "e2e: logs kept in $keep" >&2
  fi
  "$LAB/lab.sh" down "$PREFIX" >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT INT TERM

"$LAB/lab.sh" up "$PREFIX" >/dev/null
RUN="$LAB_RUN_DIR"
# The shipped menu boots the Debian installer: import it the way an admin would.
tree="$(bash "$REPO/scripts/fetch-debian13-netboot.sh")"
"$BIN" import debian "$tree" --config "$REPO/config/garage-pxe.yaml" \
  --images "$RUN/images" >"$RUN/import.log" 2>&1 || { cat "$RUN/import.log" >&2; exit 1; }

# The server under test, with the repository's own config, except that UEFI PCs get iPXE
# (bootfiles.efi: ipxe.efi): this script checks the iPXE proxy path (loop break, :4011);
# the signed chain, the default, has its own end-to-end checks (install-boot.sh uefi).
# The copy's relative paths would resolve in $RUN: every folder is given on the command line.
sed 's/^  efi: signed$/  efi: ipxe.efi/' "$REPO/config/garage-pxe.yaml" >"$RUN/garage-pxe.yaml"
grep -q '^  efi: ipxe.efi$' "$RUN/garage-pxe.yaml" || { echo "e2e: could not set bootfiles.efi in the config copy" >&2; exit 1; }
ip netns exec "$LAB_NS_SRV" "$BIN" serve --config "$RUN/garage-pxe.yaml" --user root \
  --interface "$LAB_SRV_IF" --address "$LAB_SRV_ADDR" --http-port "$LAB_HTTP_PORT" \
  --images "$RUN/images" --menus "$REPO/pxe-menus" --tftp-root /usr/lib/ipxe --log-level debug --events log --state "$RUN/state" >"$RUN/garage-pxe.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1200); do grep -q "garage-pxe started" "$RUN/garage-pxe.log" && break; sleep 0.1; done
grep -q "garage-pxe started" "$RUN/garage-pxe.log" || { echo "e2e: garage-pxe did not start:" >&2; cat "$RUN/garage-pxe.log" >&2; exit 1; }

eval "$("$LAB/boot-vm.sh" "$PREFIX" pc1 info)"
echo "e2e: booting $MODE PC $VM_MAC (limit ${LIMIT}s)"
start=$(date +%s)
rc=0
VM_UNTIL_REGEX='menu\.shown' VM_UNTIL_FILE="$RUN/garage-pxe.log" \
  "$LAB/boot-vm.sh" "$PREFIX" pc1 "$MODE" "$LIMIT" >"$RUN/boot-vm.log" 2>&1 || rc=$?
elapsed=$(( $(date +%s) - start ))

fail=0
check() { # check DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then echo "e2e: ok   $what"; else echo "e2e: FAIL $what"; fail=1; fi
}
mac="$VM_MAC"
# A garage-pxe log line holding every given fragment, in any order (swift-log sorts
# metadata keys, so fragments are matched independently).
logged() {
  local line
  while IFS= read -r line; do
    local all=1 frag
    for frag in "$@"; do [[ "$line" == *"$frag"* ]] || { all=0; break; }; done
    [[ $all == 1 ]] && return 0
  done <"$RUN/garage-pxe.log"
  return 1
}
url="http://$LAB_SRV_ADDR:$LAB_HTTP_PORT/boot.ipxe"
check "the PC fetched its own menu within ${LIMIT}s (took ${elapsed}s)" test "$rc" -eq 0
check "the plain DHCP server leased it an address" grep -qi "DHCPACK.*$mac" "$RUN/isp-dnsmasq.log"
if [[ "$MODE" == uefi ]]; then
  check "garage-pxe offered ipxe.efi to the EDK2 client on :67" \
    logged dhcp.offer arch=efi-bc bootfile=ipxe.efi "mac=$mac" port=67
  check "the EDK2 client fetched ipxe.efi over garage-pxe's TFTP" \
    logged tftp.sent file=ipxe.efi outcome=completed "client=10.77.0."
  check "garage-pxe sent the chainloaded iPXE to the HTTP script (loop broken)" \
    logged dhcp.offer "bootfile=$url" "mac=$mac" user_class=iPXE
  # No option 43 in UEFI offers (the default) sends both EDK2 and iPXE to :4011.
  check "garage-pxe answered the client's boot-server REQUEST on :4011" \
    logged dhcp.offer "mac=$mac" port=4011 type=REQUEST
else
  check "garage-pxe offered the HTTP script to the iPXE ROM" \
    logged dhcp.offer arch=bios "bootfile=$url" "mac=$mac" port=67
fi
check "iPXE ran the first script (GET /boot.ipxe from the LAN)" logged http.bootstrap remote=10.77.0.
check "the first script came back with the PC's MAC for its menu" logged menu.shown "mac=$mac" remote=10.77.0.

echo "e2e: evidence:"
grep -E "dhcp.offer" "$RUN/garage-pxe.log" | sed 's/^/  /' | head -10
grep -E "http.bootstrap|menu.shown" "$RUN/garage-pxe.log" | sed 's/^/  /' | head -3
[[ "$MODE" == uefi ]] && grep -E "tftp\.(sent|aborted)" "$RUN/garage-pxe.log" | sed 's/^/  /' | head -3
[[ $fail -eq 0 ]] && echo "e2e: $MODE PASS" || echo "e2e: $MODE FAIL"
exit $fail
