#!/usr/bin/env bash
# End to end, the whole chain with real firmware and the real Debian installer: virtual
# PCs power on in a private bench LAN (scripts/lab) whose own DHCP server knows nothing
# of PXE, and garage-pxe (proxyDHCP, TFTP, HTTP; the repository's config and a copy of
# the shipped menus whose timeout is 1 s) takes each one to the installer:
#   bios: SeaBIOS + QEMU's iPXE ROM -> proxy offer -> HTTP first script
#   uefi: OVMF's EDK2 PXE -> proxy offer -> Debian's signed shim over TFTP -> signed GRUB
#         -> grub.cfg (rendered by garage-pxe) -> its menu over HTTP (/boot.grub)
#   uefi-sb: the same with Secure Boot on (OVMF's Secure Boot build, Microsoft's keys)
#   uefi-ipxe: a UEFI PC listed under proxy_dhcp.uefi_ipxe: snponly.efi over TFTP -> :4011
#         -> HTTP first script
#   http: OVMF with its PXE turned off, so it uses UEFI HTTP boot (vendor class HTTPClient)
#         -> proxy offer with the shim's http:// URL -> shim, GRUB and grub.cfg over HTTP
#         -> its menu over HTTP (/boot.grub)
#   http-sb: the same with Secure Boot on
#   then: menu.shown -> (timeout) menu.chosen debian-13-auto -> image.sent linux, initrd.gz
#         -> the installer boots, DHCPs, fetches its preseed (installer.started) and sends
#         its syslog to the server (installer.step).
# Several PCs run at once: `install-boot.sh bios uefi bios uefi` boots four.
# Passes when every PC shows every event; prints power-on -> installer.started per PC.
# A PC not at its installer by the deadline is diagnosed (diagnose_stall: last events, the
# installer's DHCP or not, serial console, a screen picture kept with the logs);
# E2E_KERNEL_CONSOLE=1 also puts the installer kernel's messages on the serial log.
#
# Usage: install-boot.sh MODE... [--limit SECONDS]   (MODE: bios|uefi|uefi-sb|uefi-ipxe|http|http-sb;
#        at most 4 PCs)
# Environment: see scripts/e2e/lib.sh (GARAGE_PXE_BIN, E2E_KEEP_LOGS, E2E_RUNS)
set -euo pipefail

modes=()
LIMIT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    bios | uefi | uefi-sb | uefi-ipxe | http | http-sb) modes+=("$1") ;;
    --limit) LIMIT="$2"; shift ;;
    *) echo "usage: $0 bios|uefi|uefi-sb|uefi-ipxe|http|http-sb... [--limit SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
((${#modes[@]} >= 1 && ${#modes[@]} <= ${E2E_MAX_PCS:-4})) || { echo "usage: $0 bios|uefi... (1 to ${E2E_MAX_PCS:-4} PCs)" >&2; exit 2; }
# TCG bounds: ~75 s for one PC, 3-4 min for four on 2 cores, with margin.
[[ -n "$LIMIT" ]] || LIMIT=$(( ${#modes[@]} == 1 ? 240 : 420 ))

E2E_NAME="$(printf '%s' "${modes[@]}" | sed -E 's/bios/b/g; s/uefi-sb/s/g; s/uefi-ipxe/i/g; s/uefi/u/g; s/http-sb/k/g; s/http/h/g')"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# PC names (they fix the MACs): pc1bios, pc2uefi, pc3uefisb, pc4uefiipxe, pc5httpsb…
names=()
i=0
for mode in "${modes[@]}"; do
  i=$((i + 1))
  names+=("pc$i${mode//-/}")
done
e2e_customise() {
  local ipxe=() i=0 mode
  for mode in "${modes[@]}"; do
    if [[ "$mode" == uefi-ipxe ]]; then
      eval "$("$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "${names[$i]}" info)"
      ipxe+=("$VM_MAC")
    fi
    i=$((i + 1))
  done
  if ((${#ipxe[@]})); then e2e_uefi_ipxe "${ipxe[@]}"; fi
  return 0
}
e2e_setup

i=0
for name in "${names[@]}"; do
  mode="${modes[$i]}"
  i=$((i + 1))
  # The guest runs until the test is done with it (we stop it once its syslog arrived).
  start_pc "$name" "${mode/uefi-ipxe/uefi}" "$((LIMIT + 30))"
done

# Bounded wait: every PC must reach installer.started and send syslog lines (a step and a
# plain log line, both checked below).
deadline=$((SECONDS + LIMIT))
declare -A done_pc=()
while ((SECONDS < deadline)) && ((${#done_pc[@]} < ${#names[@]})); do
  for name in "${names[@]}"; do
    [[ -n "${done_pc[$name]:-}" ]] && continue
    mac="$(eval echo "\$MAC_$name")"
    if has_event "$mac" installer.started && has_event "$mac" installer.step && has_event "$mac" installer.log; then
      done_pc[$name]=1
      e2e_log "$name reached installer.started after $((SECONDS))s of script time"
    fi
  done
  sleep 2
done
# A PC still short of its installer: what it got to, while it still runs (its screen).
for name in "${names[@]}"; do
  [[ -n "${done_pc[$name]:-}" ]] || diagnose_stall "$name"
done
# What the checks read is in the journal: stop the guests.
for name in "${names[@]}"; do "$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$name" stop >/dev/null 2>&1 || true; done

i=0
for name in "${names[@]}"; do
  check_full_chain "$name" "${modes[$i]}"
  i=$((i + 1))
done
for name in "${names[@]}"; do report_timing "$name"; done
for name in "${names[@]}"; do show_evidence "$(eval echo "\$MAC_$name")"; done
if ((E2E_FAIL == 0)); then e2e_log "${modes[*]} PASS"; else e2e_log "${modes[*]} FAIL"; fi
exit "$E2E_FAIL"
