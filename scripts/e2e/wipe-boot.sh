#!/usr/bin/env bash
# End to end, issue 19: a donated PC is inventoried and erased through garage-pxe, with
# proof. A virtual PC (SeaBIOS + QEMU's iPXE ROM; or OVMF with Secure Boot, `uefi-sb`)
# with four disks, each with its own serial:
#   E2E-AHCI-0001  an AHCI (SATA) disk    } filled with a known pattern
#   E2E-NVME-0002  an NVMe disk           }
#   0xdeadbeef     an SD card on a PCI SDHCI controller, standing for the eMMC of a cheap
#                  laptop (same bus, driver and agent path: mmcblk0; QEMU emulates no eMMC,
#                  and gives every card this serial); filled with the pattern too
#   E2E-RO-0003    a SCSI disk (virtio-scsi) whose drive QEMU opens read-only
# boots on a private bench LAN (scripts/lab: a plain DHCP server, garage-pxe's proxyDHCP)
# the "Diagnostic et effacement" entry: the default for its MAC in a test copy of the
# shipped menus (countdown 5 s, the agent's console on the serial port). The diagnostic
# image is built by this run (`garage-pxe import wipe`; the packages and the image built
# from them kept in /var/cache/garage-pxe-tests/wipe between runs). Passes when:
#   - the three writable images hold no byte of the pattern and read back as zeros over
#     their whole size (what an overwrite and QEMU's NVMe format leave); the read-only one
#     is unchanged;
#   - the journal (a private systemd-journald) holds machine.inventoried (RAM, CPU, the
#     four disks with their serials, the SD card as such), disk.wiped for the three writable
#     ones with the method each really got and why (WIPE_METHOD, WIPE_METHOD_REASON),
#     disk.wipe.failed for the read-only one;
#   - `garage-pxe certificate` lists the four and marks the read-only one NOT erased; `garage-pxe
#     verify` accepts it and rejects a copy with one byte changed;
#   - the machine's page, loaded by a real headless Chromium, shows its record.
# Prints how long inventory and erase took, then scripts/e2e/wipe-throughput.sh's figures.
#
# Usage: wipe-boot.sh [bios|uefi-sb] [--limit SECONDS]
# Environment: see scripts/e2e/lib.sh (GARAGE_PXE_BIN, E2E_KEEP_LOGS, E2E_RUNS)
set -euo pipefail

MODE=bios
LIMIT=420
while [[ $# -gt 0 ]]; do
  case "$1" in
    bios | uefi-sb) MODE="$1" ;;
    --limit) LIMIT="$2"; shift ;;
    *) echo "usage: $0 [bios|uefi-sb] [--limit SECONDS]" >&2; exit 2 ;;
  esac
  shift
done
E2E_NAME="wipe${MODE:0:1}"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PC=pcwipe
DISK_MIB=64
PATTERN="DONNEES-PERSONNELLES-DU-DONATEUR"
WIPE_CACHE=/var/cache/garage-pxe-tests/wipe

e2e_customise() {
  eval "$("$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$PC" info)"
  # The diagnostic image, built from Debian's packages by this run.
  mkdir -p "$WIPE_CACHE"
  local t0=$SECONDS
  "$E2E_BIN" import wipe --config "$E2E_CONFIG" --images "$RUN/images" --cache "$WIPE_CACHE" \
    --builder "$E2E_REPO/pxe-wipe/build-image.sh" >"$RUN/import-wipe.log" 2>&1 || { cat "$RUN/import-wipe.log" >&2; exit 1; }
  e2e_log "garage-pxe import wipe: $(tail -n 1 "$RUN/import-wipe.log") ($((SECONDS - t0)) s)"
  # The test copy of the menus: the erase entry is this PC's default (a machines line, as an
  # admin would write it), a 5 s countdown, and the console last on the serial port so the
  # agent's lines land in the serial log.
  "$E2E_PYTHON" - "$RUN/menus/menu.yaml" "$VM_MAC" <<'PY'
import sys
path, mac = sys.argv[1], sys.argv[2]
text = open(path).read()
old = "    countdown: 30\n"
if old not in text or not text.rstrip().endswith('"'):
    sys.exit("e2e: the shipped menu.yaml changed shape (countdown: 30, machines last)")
text = text.replace(old, '    countdown: 5\n    kernel_args: "console=ttyS0,115200n8"\n', 1)
text += '  "%s":\n    default: diagnostic-effacement\n    note: "PC de test: effacement"\n' % mac
open(path, "w").write(text)
PY
}
e2e_setup

# Four disks of DISK_MIB MiB (a power of two: QEMU's SD card wants one), every 4 KiB block
# holding the pattern (and its number).
"$E2E_PYTHON" - "$RUN" "$DISK_MIB" "$PATTERN" <<'PY'
import sys
run, mib, pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
for name in ("ahci", "nvme", "sd", "ro"):
    with open("%s/disk-%s.img" % (run, name), "wb") as f:
        for block in range(mib * 256):
            line = b"%s %s bloc %08d\n" % (pattern, name.encode(), block)
            f.write((line * (4096 // len(line) + 1))[:4096])
PY
ro_before="$(sha256sum <"$RUN/disk-ro.img")"
# shellcheck disable=SC2034 # read by boot-vm.sh through the environment
VM_EXTRA_ARGS="-smbios type=1,manufacturer=Atelier,product=PC-de-test,serial=E2E-WIPE-PC
  -device ahci,id=ahci0 -drive if=none,id=dahci,file=$RUN/disk-ahci.img,format=raw
  -device ide-hd,drive=dahci,bus=ahci0.0,serial=E2E-AHCI-0001
  -drive if=none,id=dnvme,file=$RUN/disk-nvme.img,format=raw -device nvme,drive=dnvme,serial=E2E-NVME-0002
  -device sdhci-pci,id=sdhci0 -drive if=none,id=dsd,file=$RUN/disk-sd.img,format=raw -device sd-card,drive=dsd
  -device virtio-scsi-pci,id=scsi0 -drive if=none,id=dro,file=$RUN/disk-ro.img,format=raw,readonly=on
  -device scsi-hd,drive=dro,bus=scsi0.0,serial=E2E-RO-0003"
export VM_EXTRA_ARGS
VM_MEM=1024 start_pc "$PC" "$MODE" "$((LIMIT + 30))" "garage-pxe: termin"
mac="$(eval echo "\$MAC_$PC")"
serial_log="$RUN/vm-$PC.serial.log"

# Bounded: the agent's "terminé" line on the serial console (boot-vm.sh stops there), or the limit.
wait "$(eval echo "\$VMPID_$PC")" || true
# journald reads its socket on its own time: the three disk events, bounded.
wait_for_event "$mac" disk.wipe.failed 30 || true
wait_for_event "$mac" disk.wiped 30 serial=E2E-NVME-0002 || true

check "[$PC] the LAN's plain DHCP server leased $mac an address" test -n "$(pc_addresses "$mac")"
check "[$PC] menu.chosen: the erase entry, this PC's default" has_event "$mac" menu.chosen entry=diagnostic-effacement
check "[$PC] image.sent: the diagnostic kernel" has_event "$mac" image.sent file=/images/diagnostic-amd64/linux
check "[$PC] image.sent: the diagnostic initrd" has_event "$mac" image.sent file=/images/diagnostic-amd64/initrd.gz
check "[$PC] the agent counted down before erasing" grep -q "Effacement de TOUS les disques dans" "$serial_log"
inventory="$(pc_events "$mac" | grep -m1 '^machine.inventoried ' || true)"
check "[$PC] machine.inventoried: the DMI serial" grep -q "serial=E2E-WIPE-PC" <<<"$inventory"
for disk in E2E-AHCI-0001 E2E-NVME-0002 0xdeadbeef E2E-RO-0003; do
  check "[$PC] machine.inventoried lists disk $disk" grep -q "$disk" <<<"$inventory"
done
check "[$PC] machine.inventoried: the SD card on SDHCI as such (mmcblk0, transport sd)" \
  grep -qE '"name":"mmcblk0"[^}]*"serial":"0xdeadbeef"[^}]*"transport":"sd"' <<<"$inventory"
# The RAM installed: QEMU describes its -m 1024 as SMBIOS memory devices (type 17), with
# SeaBIOS and with OVMF alike: exactly 1 GiB, from DMI (not the kernel's smaller MemTotal).
ram="$(grep -oE 'memory_bytes=[0-9]+' <<<"$inventory" | cut -d= -f2 || true)"
ram_source="$(grep -oE 'memory_source=[a-z]+' <<<"$inventory" | cut -d= -f2 || true)"
check "[$PC] machine.inventoried: the RAM installed, from DMI (${ram:-none} bytes from ${ram_source:-nowhere}; 1 GiB installed)" \
  test "${ram:-0}" -eq $((1 << 30)) -a "$ram_source" = dmi
check "[$PC] machine.inventoried: the CPU model" grep -qE "cpu_model=[^ ]+" <<<"$inventory"
# Each disk's method is the one it really got, with the reason the agent found (QEMU's
# devices: the AHCI disk has no ATA security feature set, the NVMe controller formats
# (OACS bit 1) but has no sanitize (SANICAP 0), an SD card has no secure erase); each is
# then read back whole (verification=verified) and the images are scanned below.
check "[$PC] disk.wiped: the AHCI disk, overwritten: no ATA security feature set" has_event "$mac" disk.wiped \
  disk_serial=E2E-AHCI-0001 verification=verified wipe_method=overwrite "wipe_method_reason=no ATA security feature set (hdparm -I)"
check "[$PC] disk.wiped: the NVMe disk, by NVMe Format with secure erase (no sanitize: SANICAP 0)" has_event "$mac" disk.wiped \
  disk_serial=E2E-NVME-0002 verification=verified wipe_method=nvme-format "wipe_method_reason=no sanitize block erase (SANICAP 0)"
check "[$PC] disk.wiped: the SD card (eMMC stand-in), overwritten: the card has no secure erase" has_event "$mac" disk.wiped \
  disk_serial=0xdeadbeef verification=verified wipe_method=overwrite "wipe_method_reason=sd card: secure erase refused (blkdiscard -s:" \
  "Operation not supported"
check "[$PC] the agent waited for the kernel's random pool before erasing (nvme-cli's parsing needs it)" \
  grep -qa "random pool ready" "$serial_log"
check "[$PC] disk.wipe.failed: the read-only disk" has_event "$mac" disk.wipe.failed disk_serial=E2E-RO-0003
check "[$PC] no disk.wiped for the read-only disk" no_event "$mac" disk.wiped disk_serial=E2E-RO-0003

# The disks themselves: scanned whole on the host.
size=$((DISK_MIB << 20))
for name in ahci nvme sd; do
  img="$RUN/disk-$name.img"
  check "[$PC] disk-$name.img: no byte of the pattern left" bash -c "! grep -qa -- '$PATTERN' '$img' && ! grep -qa -- 'bloc 0' '$img'"
  check "[$PC] disk-$name.img: all $size bytes read back as zeros" cmp -n "$size" "$img" /dev/zero
  check "[$PC] disk-$name.img: still $size bytes" test "$(stat -c %s "$img")" -eq "$size"
done
check "[$PC] disk-ro.img: unchanged (the read-only disk was not written)" test "$(sha256sum <"$RUN/disk-ro.img")" == "$ro_before"

# The certificate: signed by the site's key (the daemon made it in its state folder).
cert="$RUN/certificate.html"
"$E2E_BIN" certificate E2E-WIPE-PC --config "$E2E_CONFIG" --state "$RUN/state" --directory "$E2E_JOURNAL" --output "$cert" \
  >"$RUN/certificate.log" 2>&1 || true
"$E2E_BIN" certificate E2E-WIPE-PC --config "$E2E_CONFIG" --state "$RUN/state" --directory "$E2E_JOURNAL" --json \
  >"$RUN/certificate.json" 2>>"$RUN/certificate.log" || true
check "[$PC] certificate written" test -s "$cert"
check_certificate() {
  "$E2E_PYTHON" - "$RUN/certificate.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["certificate"]
disks = {d["serial"]: d for d in c["disks"]}
assert set(disks) == {"E2E-AHCI-0001", "E2E-NVME-0002", "0xdeadbeef", "E2E-RO-0003"}, disks.keys()
assert all(disks[s]["erased"] for s in ("E2E-AHCI-0001", "E2E-NVME-0002", "0xdeadbeef")), disks
assert disks["E2E-NVME-0002"]["method"] == "nvme-format", disks["E2E-NVME-0002"]
assert disks["E2E-AHCI-0001"]["method"] == "overwrite" and "ATA security" in disks["E2E-AHCI-0001"]["methodReason"], disks
assert disks["0xdeadbeef"]["transport"] == "sd" and "secure erase refused" in disks["0xdeadbeef"]["methodReason"], disks
assert not disks["E2E-RO-0003"]["erased"], disks["E2E-RO-0003"]
assert not c["allErased"] and c["machine"]["serial"] == "E2E-WIPE-PC", c
PY
}
check "[$PC] certificate: the four disks, each method and why, the read-only one NOT erased, the PC not fully erased" check_certificate
check "[$PC] certificate (HTML): why the AHCI disk was overwritten" grep -q "Motif : no ATA security feature set" "$cert"
check "[$PC] certificate (HTML): the third disk marked NON effacé" grep -q "NON effacé" "$cert"
check "[$PC] garage-pxe verify accepts the certificate" "$E2E_BIN" verify "$cert" --config "$E2E_CONFIG" --state "$RUN/state"
cp "$cert" "$RUN/certificate-changed.html"
# One byte changed: a digit of the read-only disk's size, or else the first 'E' of the PC's serial.
"$E2E_PYTHON" - "$RUN/certificate-changed.html" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
i = data.find(b"E2E-WIPE-PC")
data[i] = ord("F")
open(path, "wb").write(bytes(data))
PY
check "[$PC] garage-pxe verify rejects a copy with one byte changed" \
  bash -c "! '$E2E_BIN' verify '$RUN/certificate-changed.html' --config '$E2E_CONFIG' --state '$RUN/state'"

# The bench's page for this machine, in a real headless Chromium (inside the server's namespace).
ip netns exec "$LAB_NS_SRV" timeout 90 chromium --headless=new --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$RUN/chromium-profile" --virtual-time-budget=5000 \
  --dump-dom "http://$LAB_SRV_ADDR:$LAB_HTTP_PORT/machines/E2E-WIPE-PC" >"$RUN/machine-page.html" 2>"$RUN/chromium.log" || true
page_shows() { grep -q -- "$1" "$RUN/machine-page.html"; }
check "[$PC] bench machine page (Chromium): the PC's serial" page_shows E2E-WIPE-PC
for disk in E2E-AHCI-0001 E2E-NVME-0002 0xdeadbeef E2E-RO-0003; do
  check "[$PC] bench machine page (Chromium): disk $disk" page_shows "$disk"
done

if [[ "$MODE" == uefi-sb ]]; then
  check "[$PC] the kernel booted with Secure Boot enforced (EFI stub on the console)" \
    grep -q "UEFI Secure Boot is enabled" "$serial_log"
fi

# How long it took, from the daemon's own timestamps; the agent's per-disk lines.
on="$(eval echo "\$POWER_ON_$PC")"
chosen="$(first_event_time "$mac" menu.chosen || true)"
inventoried="$(first_event_time "$mac" machine.inventoried || true)"
last="$(pc_events "$mac" | grep -E '^disk\.wipe' | tail -n 1 | sed -nE 's/.* at=@([^ ]+)$/\1/p')"
if [[ -n "$chosen" && -n "$inventoried" && -n "$last" ]]; then
  printf 'e2e[%s]: timing power-on -> menu.chosen %.1f s, -> machine.inventoried %.1f s (boot + inventory), inventory -> last disk report %.1f s (5 s countdown + erase and read-back of 3 x %d MiB + the read-only refusal)\n' \
    "$E2E_NAME" "$(echo "$chosen - $on" | bc)" "$(echo "$inventoried - $on" | bc)" "$(echo "$last - $inventoried" | bc)" "$DISK_MIB"
fi
sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$serial_log" | tr -d '\r' | grep -aE "garage-pxe: (write pass|read-back|disk |mémoire|random)" |
  sed "s/^/e2e[$E2E_NAME]: guest (TCG): /" || true
# Throughput against dd, same run, on a host loop device (the guest is emulated: its
# figures measure TCG, not the method).
bash "$E2E_REPO/scripts/e2e/wipe-throughput.sh" 1024 2>&1 | sed "s/^/e2e[$E2E_NAME]: /" || true

show_evidence "$mac"
if ((E2E_FAIL == 0)); then e2e_log "wipe $MODE PASS"; else e2e_log "wipe $MODE FAIL"; fi
exit "$E2E_FAIL"
