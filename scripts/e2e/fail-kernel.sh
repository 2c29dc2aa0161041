#!/usr/bin/env bash
# End to end, a failure a workshop really meets: the menu's default entry names an image
# whose kernel file has gone (deleted after the daemon loaded the image). A real BIOS PC
# (SeaBIOS + iPXE ROM) must show a readable error on its console, and the journal must hold
# an image.failed event (err priority) tied to that PC's MAC: `garage-pxe history MAC`.
#
# Usage: fail-kernel.sh [SECONDS]
set -euo pipefail
LIMIT="${1:-150}"
E2E_NAME=fail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Test copy of the menus: one more image, "sans-noyau" (a copy of the imported Debian
# image), and an entry using it, made the default.
e2e_customise() {
  cp -r "$RUN/images/debian-13-amd64" "$RUN/images/sans-noyau"
  sed -i -e '/^entries:$/a\
  - id: noyau-absent\
    label: "Debian 13 (noyau manquant, test)"\
    kind: debian-installer\
    image: sans-noyau\
    platforms: [bios, efi]\
' -e 's/^default: .*/default: noyau-absent/' "$RUN/menus/menu.yaml"
  "$E2E_BIN" check --config "$E2E_CONFIG" --menus "$RUN/menus" --images "$RUN/images" \
    >"$RUN/check.log" 2>&1 || { echo "e2e: test menu does not check:" >&2; cat "$RUN/check.log" >&2; exit 1; }
}
e2e_setup
rm -f "$RUN/images/sans-noyau/linux"
e2e_log "removed $RUN/images/sans-noyau/linux after the daemon loaded the image"

# The entry script's failure branch prints: garage-pxe: echec de "LABEL".
start_pc pc1 bios "$LIMIT" 'echec de'
wait "$VMPID_pc1" && seen=0 || seen=$?
mac="$MAC_pc1"
serial="$RUN/vm-pc1.serial.log"
clean() { sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$serial" | tr -d '\r\b'; }
check "[pc1] the serial console shows the entry failed within ${LIMIT}s" test "$seen" -eq 0
check "[pc1] menu.chosen noyau-absent" has_event "$mac" menu.chosen entry=noyau-absent
check "[pc1] iPXE says why on the console (No such file / 404)" bash -c "$(declare -f clean); serial='$serial'; clean | grep -qiE 'no such file|not found|404'"
check "[pc1] image.failed in the journal for this MAC: the kernel, HTTP 404" \
  has_event "$mac" image.failed file=/images/sans-noyau/linux image=sans-noyau "reason=HTTP 404"
check "[pc1] image.failed is err priority (journalctl -p err finds it)" \
  bash -c "journalctl -q -D '$E2E_JOURNAL' -p err GARAGE_PXE_MAC=$mac GARAGE_PXE_EVENT=image.failed -o cat | grep -q ."
result="$("$E2E_BIN" machines --json --directory "$E2E_JOURNAL" | "$E2E_PYTHON" -c '
import json, sys
print(" ".join(m["result"] for m in json.load(sys.stdin) if m["mac"] == sys.argv[1]))' "$mac" || true)"
check "[pc1] garage-pxe machines shows the PC as failed (got '$result')" test "$result" = failed
check "[pc1] no installer started" no_event "$mac" installer.started
e2e_log "console around the error:"
{ clean | grep -iE -B2 -A3 'echec de' | head -12 | sed 's/^/    /'; } || true
e2e_log "journal events for the failure (garage-pxe history $mac):"
{ pc_events "$mac" | grep -E '^(menu.chosen|image.failed)' | cut -c1-240 | sed 's/^/    /'; } || true
if ((E2E_FAIL == 0)); then e2e_log "PASS"; else e2e_log "FAIL"; fi
exit "$E2E_FAIL"
