#!/usr/bin/env bash
# End to end, the negative control of the Secure Boot tests: the same virtual PC as
# install-boot.sh uefi-sb (OVMF's Secure Boot build, Microsoft's keys enrolled, Secure Boot
# on) is listed under proxy_dhcp.uefi_ipxe, so garage-pxe offers it iPXE (bootfiles.efi_ipxe's
# default, snponly.efi, not signed by Microsoft) instead of Debian's signed shim. The firmware fetches the file over
# TFTP and must refuse to run it: iPXE never starts, so it never asks for its menu (no
# proxy offer of the HTTP script, no menu.shown). This shows the firmware really enforces
# Secure Boot, so that install-boot.sh uefi-sb reaching the installer means something.
# With `http`: the same PC with its PXE off (install-boot.sh http-sb) is offered iPXE's
# URL by UEFI HTTP boot and fetches /tftp/snponly.efi over HTTP; it must refuse it as well.
#
# Usage: secureboot-refuses.sh [SECONDS] [pxe|http]   (default 150: bound on the fetch of
#        snponly.efi; default pxe)
set -euo pipefail
LIMIT="${1:-150}"
PATH_KIND="${2:-pxe}"
[[ "$PATH_KIND" == pxe || "$PATH_KIND" == http ]] || { echo "usage: $0 [SECONDS] [pxe|http]" >&2; exit 2; }
# After the firmware fetched the loader: how long iPXE would have had to ask for its menu
# (a running iPXE does so within seconds, even under TCG).
GRACE=60
E2E_NAME=sbrefuse
[[ "$PATH_KIND" == http ]] && E2E_NAME=sbrefuseh
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_customise() {
  eval "$("$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" pc1sb info)"
  e2e_uefi_ipxe "$VM_MAC"
}
e2e_setup

url="http://$LAB_SRV_ADDR:$LAB_HTTP_PORT"
LOADER=snponly.efi
if [[ "$PATH_KIND" == http ]]; then
  start_pc pc1sb http-sb "$((LIMIT + GRACE + 30))"
  offered=(arch=efi-x64-http "file=$url/tftp/$LOADER" chain=ipxe)
  sent=(image.sent "file=/tftp/$LOADER")
else
  start_pc pc1sb uefi-sb "$((LIMIT + GRACE + 30))"
  offered=("file=$LOADER" chain=ipxe)
  sent=(tftp.sent "file=$LOADER")
fi
mac="$MAC_pc1sb"
fetched=0
wait_for_event "$mac" "${sent[0]}" "$LIMIT" "${sent[1]}" && fetched=1
# Bounded: GRACE seconds in which a running iPXE would show up.
deadline=$((SECONDS + GRACE))
while ((SECONDS < deadline)); do
  has_event "$mac" menu.shown && break
  has_event "$mac" dhcp.offer "file=$url/boot.ipxe" && break
  sleep 2
done
"$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" pc1sb stop >/dev/null 2>&1 || true

check "[pc1sb] dhcp.offer: $LOADER over $PATH_KIND (the PC is listed under proxy_dhcp.uefi_ipxe)" \
  has_event "$mac" dhcp.offer "${offered[@]}"
check "[pc1sb] ${sent[0]}: the Secure Boot firmware fetched $LOADER within ${LIMIT}s" test "$fetched" -eq 1
check "[pc1sb] iPXE never ran: no DHCP from iPXE answered with the HTTP script within ${GRACE}s" \
  no_event "$mac" dhcp.offer "file=$url/boot.ipxe"
check "[pc1sb] iPXE never ran: no menu.shown" no_event "$mac" menu.shown
check "[pc1sb] no installer started" no_event "$mac" installer.started
if [[ "$PATH_KIND" == http ]]; then
  # OVMF's boot manager names the refusal on the console (seen: "failed to load Boot0001
  # "UEFI HTTPv4 (MAC:…)" …: Access Denied").
  check "[pc1sb] the firmware refused the loader it downloaded: Access Denied" \
    grep -q "UEFI HTTPv4.*Access Denied" "$RUN/vm-pc1sb.serial.log"
fi
e2e_log "evidence (garage-pxe history $mac):"
{ pc_events "$mac" | cut -c1-200 | sed 's/^/    /' | head -12; } || true
if ((E2E_FAIL == 0)); then e2e_log "PASS"; else e2e_log "FAIL"; fi
exit "$E2E_FAIL"
