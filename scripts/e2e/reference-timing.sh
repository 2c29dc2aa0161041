#!/usr/bin/env bash
# Yardstick for the end-to-end timing: the same virtual PC, the same bench LAN and the
# same Debian installer, served by the reference setup instead of garage-pxe: dnsmasq as
# proxyDHCP + TFTP and nginx (scripts/lab/reference-proxy.sh, REF_HTTP=nginx; set
# REF_HTTP=python for python's http.server) with a hand-written iPXE script that boots
# the installer directly (no menu) with the same
# kernel arguments and the preseed garage-pxe renders (served as a static file).
# Prints power-on -> preseed fetched.
# A figure, not a test: it fails only when the installer never fetched its preseed.
#
#
# `chains` instead: garage-pxe's own figures, every boot chain side by side in one run
# (install-boot.sh with one PC per chain: BIOS + iPXE ROM, UEFI with iPXE, UEFI with the
# signed shim + GRUB over TFTP, the same with Secure Boot on, UEFI HTTP boot with Secure
# Boot off and on), power-on -> installer.started per PC, with the host's load before and
# after (the guests share its cores with whatever else runs: read the figures with it).
#
# Usage: reference-timing.sh bios|uefi [SECONDS]
#        [CHAINS="MODE..."] reference-timing.sh chains [SECONDS]   (default 1500: on 2 busy
#        cores six TCG guests took ~17 min to the installer)
set -euo pipefail
MODE="${1:-}"
LIMIT="${2:-300}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ "$MODE" == chains ]]; then
  # In this order the six PCs' MACs (fixed by their names, pcN + mode) hash to six
  # different addresses in the lab's DHCP pool. dnsmasq picks an address by hashing the
  # MAC: two PCs that collide and DISCOVER at the same moment get the same offer, the
  # second one's REQUEST is NAKed, and EDK2's HTTP boot gives up without retrying (seen
  # with pc5http and pc6httpsb).
  # CHAINS="bios uefi http" runs a subset (fewer guests when the host is busy).
  # shellcheck disable=SC2206
  chains=(${CHAINS:-bios uefi-ipxe uefi uefi-sb http-sb http})
  load() { printf '%s cores, load average %s' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
  echo "chains: ${#chains[@]} PCs at once (${chains[*]}); host before: $(load)"
  status=0
  E2E_MAX_PCS=${#chains[@]} bash "$REPO/scripts/e2e/install-boot.sh" "${chains[@]}" --limit "${2:-1500}" | tee /dev/stderr |
    sed -nE 's/^e2e\[[a-z]+\]: timing pc[0-9]+([a-z]+) power-on -> installer.started (.*)$/chains: \1 \2/p' || status=$?
  echo "chains: host after: $(load)"
  exit "$status"
fi
[[ "$MODE" == bios || "$MODE" == uefi ]] || { echo "usage: $0 bios|uefi|chains [SECONDS]" >&2; exit 2; }
LAB="$REPO/scripts/lab"
BIN="${GARAGE_PXE_BIN:-$REPO/.build/debug/garage-pxe}"
[[ "$(id -u)" -eq 0 ]] || { echo "needs root" >&2; exit 2; }
PREFIX="e2ref${MODE:0:1}$((RANDOM % 1000))"
eval "$("$LAB/lab.sh" env "$PREFIX")"
VM_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$VM_PID" ]]; then kill "$VM_PID" 2>/dev/null || true; wait "$VM_PID" 2>/dev/null || true; fi
  "$LAB/lab.sh" down "$PREFIX" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$LAB/lab.sh" up "$PREFIX" >/dev/null
RUN="$LAB_RUN_DIR"
DI="$(bash "$REPO/scripts/fetch-debian13-netboot.sh")/debian-installer/amd64"
url="http://$LAB_SRV_ADDR:$LAB_HTTP_PORT"
{
  echo '#!ipxe'
  echo "kernel $url/linux initrd=initrd.gz auto=true priority=critical url=$url/preseed.cfg log_host=$LAB_SRV_ADDR log_port=514 BOOTIF=01-\${netX/mac:hexhyp} locale=fr_FR.UTF-8 keymap=fr"
  echo "initrd $url/initrd.gz"
  echo "boot"
} >"$RUN/boot.ipxe"
REF_HTTP="${REF_HTTP:-nginx}" REF_BOOT_SCRIPT="$RUN/boot.ipxe" "$LAB/reference-proxy.sh" "$PREFIX" start >"$RUN/ref-start.log" 2>&1 ||
  { cat "$RUN/ref-start.log" >&2; exit 1; }
install -m 0644 "$DI/linux" "$DI/initrd.gz" "$RUN/ref/http/"
# The same preseed garage-pxe would send (rendered once, static here).
"$BIN" render --config "$REPO/config/garage-pxe.yaml" --mac 52:54:00:00:00:01 --entry debian-13-auto --preseed \
  >"$RUN/ref/http/preseed.cfg" 2>"$RUN/render.log" ||
  printf 'd-i debian-installer/locale string fr_FR.UTF-8\n' >"$RUN/ref/http/preseed.cfg"
chmod 0644 "$RUN/ref/http/preseed.cfg"

on=$(date +%s.%N)
VM_MEM=1024 "$LAB/boot-vm.sh" "$PREFIX" pc1 "$MODE" "$((LIMIT + 10))" >"$RUN/boot-vm.log" 2>&1 &
VM_PID=$!
deadline=$((SECONDS + LIMIT))
got=""
while ((SECONDS < deadline)); do
  if grep -q 'GET /preseed.cfg' "$RUN/ref-http.log" 2>/dev/null; then got=$(date +%s.%N); break; fi
  sleep 0.5
done
if [[ -n "$got" ]]; then
  printf 'reference[%s]: timing power-on -> preseed fetched %.1f s (dnsmasq proxyDHCP+TFTP, %s, no menu)\n' \
    "$MODE" "$(echo "$got - $on" | bc)" "${REF_HTTP:-nginx}"
else
  echo "reference[$MODE]: preseed not fetched within ${LIMIT}s"
  exit 1
fi
