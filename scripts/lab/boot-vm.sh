#!/usr/bin/env bash
# Boot one virtual PC from the network on the bench-LAN lab.
#
# Why: real PXE firmware (SeaBIOS + iPXE ROM, OVMF's EDK2 PXE) is the only
# honest client for a PXE server; QEMU gives us both without hardware.
#
# Usage:
#   boot-vm.sh PREFIX NAME bios|uefi|uefi-sb|http|http-sb [SECONDS]   boot, stop after
#                                                SECONDS (default 60)
#   boot-vm.sh PREFIX NAME stop                  stop a running VM early (by recorded PID)
#   boot-vm.sh PREFIX NAME info                  print VM_* facts (MAC, log paths) and exit
# NAME: 1-11 chars [a-z0-9]; it fixes the MAC (52:54:00 + 3 bytes of md5(NAME))
# and the SMBIOS UUID, so a given NAME is the same "machine" in every run.
#
# The boot command runs in the foreground (background it with & if needed):
# it adds tap-NAME to br0 in ${PREFIX}-lan, starts QEMU *inside that
# namespace* (that is where the tap lives), waits, then stops QEMU by PID and
# deletes the tap. SIGTERM/SIGINT to this script also stop the VM.
#   bios: SeaBIOS + QEMU's iPXE option ROM (package ipxe-qemu): the very first
#         DHCP is already iPXE's (user class "iPXE", arch 0).
#   uefi: OVMF (q35) with the NIC's romfile= empty: EDK2's own PXE client
#         (arch 7). Each run gets a fresh copy of OVMF_VARS_4M.fd.
#   uefi-sb: the same PC with Secure Boot on, as sold with Windows: OVMF's Secure Boot
#         build (OVMF_CODE_4M.secboot.fd, needs q35 with SMM and the flash marked
#         secure) and a fresh copy of OVMF_VARS_4M.ms.fd (Microsoft's keys enrolled,
#         Secure Boot enabled). It runs only loaders Microsoft's keys sign.
#   http, http-sb: the uefi and uefi-sb PCs with the firmware's PXE (IPv4 and IPv6) turned
#         off through QEMU's fw_cfg (OVMF's opt/org.tianocore/IPv4PXESupport and
#         IPv6PXESupport knobs), so its next network boot option is UEFI HTTP boot
#         (vendor class HTTPClient, client architecture 16): as a PC whose admin chose
#         HTTP boot in its firmware setup, or whose PXE found nothing to run.
# TCG unless VM_ACCEL=kvm: KVM on these machines cannot run unmodified guests
#; scripts/e2e/lib.sh probes it and sets VM_ACCEL.
#
# Files in /tmp/${PREFIX}-lab/: vm-NAME.serial.log (console), vm-NAME.debug.log
# (firmware debug port 0x402), vm-NAME.qmp (QMP socket), vm-NAME.pid.
#
# Environment:
#   VM_MEM=512            guest RAM in MiB
#   VM_NIC=virtio-net-pci QEMU NIC model (e1000 also has an iPXE ROM for bios)
#   VM_MAC=52:54:00:..    override the derived MAC
#   VM_UUID=...           override the derived SMBIOS UUID (md5 of "uuid-NAME")
#   VM_UNTIL_REGEX=re     stop as soon as re (grep -E) appears in VM_UNTIL_FILE
#                         (only text written after QEMU started counts; ANSI
#                         escapes are stripped first: with sga, SeaBIOS and
#                         iPXE position every character with an escape);
#                         exit 0 on a match, 124 if SECONDS pass without one
#   VM_UNTIL_COUNT=1      ... as soon as that many matching lines were seen
#   VM_UNTIL_FILE=path    file to watch (default: the serial log)
#   VM_ACCEL=tcg          tcg or kvm
#   VM_EXTRA_ARGS="..."   appended to the QEMU command line (word-split)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 3 ]] || usage
lab_set_names "$1"
NAME="$2"
MODE="$3"
SECONDS_LIMIT="${4:-60}"
[[ "$NAME" =~ ^[a-z0-9]{1,11}$ ]] || die "NAME must be 1-11 chars [a-z0-9] (tap-NAME must fit 15 chars)"
[[ "$SECONDS_LIMIT" =~ ^[0-9]+$ && "$SECONDS_LIMIT" -gt 0 ]] || die "SECONDS must be a positive integer"

TAP="tap-$NAME"
MAC="${VM_MAC:-$(printf '%s' "$NAME" | md5sum | sed -E 's/^(..)(..)(..).*/52:54:00:\1:\2:\3/')}"
# SMBIOS system UUID, also derived from NAME: without -uuid QEMU reports all
# zeros, and PXE clients then send an all-zero GUID in option 97.
UUID="${VM_UUID:-$(printf 'uuid-%s' "$NAME" | md5sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')}"
PIDFILE="$RUN_DIR/vm-$NAME.pid"
SERIAL_LOG="$RUN_DIR/vm-$NAME.serial.log"
DEBUG_LOG="$RUN_DIR/vm-$NAME.debug.log"
QMP_SOCK="$RUN_DIR/vm-$NAME.qmp"
VARS="$RUN_DIR/vm-$NAME.OVMF_VARS.fd"
OVMF_CODE="/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS_TEMPLATE="/usr/share/OVMF/OVMF_VARS_4M.fd"

info() {
  printf 'VM_NAME=%q\nVM_MAC=%q\nVM_UUID=%q\nVM_TAP=%q\nVM_SERIAL_LOG=%q\nVM_DEBUG_LOG=%q\nVM_QMP=%q\nVM_PIDFILE=%q\n' \
    "$NAME" "$MAC" "$UUID" "$TAP" "$SERIAL_LOG" "$DEBUG_LOG" "$QMP_SOCK" "$PIDFILE"
}

case "$MODE" in
  info) info; exit 0 ;;
  stop) require_root; stop_pidfile "$PIDFILE" TERM 10; log "vm $NAME stopped"; exit 0 ;;
  bios | uefi | uefi-sb | http | http-sb) ;;
  *) usage ;;
esac

require_root
ns_exists "$NS_LAN" || die "netns $NS_LAN missing: run lab.sh up $PREFIX first"
# One boot of a PC at a time, its cleanup included. A boot's exit deletes the PC's tap and
# its OVMF_VARS copy, whose names a new boot of the same PC uses too: a PC stopped and
# booted again at once (install-tail's rearm) once lost its new OVMF_VARS to the old boot's
# late exit, and never started. This shell holds the lock until it exits, after the EXIT
# trap; QEMU does not inherit it. Bounded: a boot still cleaning up after 30 s is an error.
exec {BOOT_LOCK}>"$RUN_DIR/vm-$NAME.lock"
flock -w 30 "$BOOT_LOCK" || die "vm $NAME: its last boot is still running or cleaning up after 30 s"
pid_is_ours "$PIDFILE" && die "vm $NAME is already running (pid $(cat "$PIDFILE"))"

cleanup() {
  # Stop QEMU (only the PID we recorded), then unplug and delete the tap.
  stop_pidfile "$PIDFILE" TERM 10
  ip -n "$NS_LAN" link del "$TAP" 2>/dev/null || true
  rm -f -- "$VARS" "$QMP_SOCK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# The tap is created inside the lan namespace, so QEMU must open it from
# there too (TUNSETIFF looks the name up in the caller's namespace).
ip -n "$NS_LAN" link del "$TAP" 2>/dev/null || true   # leftover of a killed run
ip -n "$NS_LAN" tuntap add dev "$TAP" mode tap
ip -n "$NS_LAN" link set "$TAP" master "$LAB_BRIDGE" up

NIC="${VM_NIC:-virtio-net-pci}"
qemu=(qemu-system-x86_64
  -name "lab-$NAME" -accel "${VM_ACCEL:-tcg}" -smp 1 -m "${VM_MEM:-512}" -uuid "$UUID"
  -nodefaults -vga std -display none
  -serial "file:$SERIAL_LOG"
  -chardev "file,id=dbg,path=$DEBUG_LOG" -device "isa-debugcon,iobase=0x402,chardev=dbg"
  -qmp "unix:$QMP_SOCK,server=on,wait=off"
  -netdev "tap,id=net0,ifname=$TAP,script=no,downscript=no"
)
if [[ "$MODE" == bios ]]; then
  # Default pc machine + SeaBIOS; the NIC keeps its default romfile (iPXE).
  # sga: Serial Graphics Adapter option ROM, mirrors the BIOS text screen
  # (SeaBIOS, iPXE) onto the serial port, so the serial log shows progress.
  qemu+=(-machine pc -device sga
    -device "$NIC,netdev=net0,mac=$MAC,bootindex=1"
    -boot order=n)
else
  machine=q35
  if [[ "$MODE" == uefi-sb || "$MODE" == http-sb ]]; then
    OVMF_CODE="/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
    OVMF_VARS_TEMPLATE="/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
    # The Secure Boot build keeps its variables in SMM-protected flash: without SMM and a
    # secure flash the firmware stops before it boots anything.
    machine=q35,smm=on
    qemu+=(-global driver=cfi.pflash01,property=secure,value=on)
  fi
  if [[ "$MODE" == http* ]]; then
    qemu+=(-fw_cfg name=opt/org.tianocore/IPv4PXESupport,string=n -fw_cfg name=opt/org.tianocore/IPv6PXESupport,string=n)
  fi
  # OVMF needs writable per-guest variable storage: a fresh copy each run.
  install -m 0644 "$OVMF_VARS_TEMPLATE" "$VARS"
  # romfile= (empty): no iPXE ROM, so the firmware's own EDK2 PXE runs.
  qemu+=(-machine "$machine"
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE"
    -drive "if=pflash,format=raw,unit=1,file=$VARS"
    -device "$NIC,netdev=net0,mac=$MAC,bootindex=1,romfile="
    -boot order=n)
fi
# shellcheck disable=SC2206
[[ -n "${VM_EXTRA_ARGS:-}" ]] && qemu+=(${VM_EXTRA_ARGS})

: >"$SERIAL_LOG"
log "vm $NAME ($MODE) mac $MAC tap $TAP, limit ${SECONDS_LIMIT}s, serial $SERIAL_LOG"
info
ip netns exec "$NS_LAN" "${qemu[@]}" </dev/null >"$RUN_DIR/vm-$NAME.qemu.log" 2>&1 {BOOT_LOCK}>&- &
echo $! >"$PIDFILE"
wait_pid_ours "$PIDFILE" 10 || log "vm $NAME: QEMU did not start (see $RUN_DIR/vm-$NAME.qemu.log)"

until_file="${VM_UNTIL_FILE:-$SERIAL_LOG}"
# Only text appended after QEMU started counts (the file may be a server log
# that already holds lines from earlier boots).
until_offset=$(($(stat -c %s "$until_file" 2>/dev/null || echo 0) + 1))
rc=0
# Bounded wait: bash's SECONDS counter gives a wall-clock deadline.
start=$SECONDS
deadline=$((SECONDS + SECONDS_LIMIT))
timed_out=1
while ((SECONDS < deadline)); do
  if ! pid_is_ours "$PIDFILE"; then
    # While `ip netns exec` execs QEMU, /proc/PID/cmdline reads empty for a moment (seen
    # on a loaded host): look again before concluding QEMU is gone.
    sleep 0.5
    if pid_is_ours "$PIDFILE"; then continue; fi
    timed_out=0
    if [[ ! -e "$PIDFILE" ]]; then
      # `boot-vm.sh PREFIX NAME stop` (or lab.sh down) removed the pidfile.
      log "vm $NAME: stopped on request after $((SECONDS - start))s"
      break
    fi
    log "vm $NAME: QEMU exited on its own after $((SECONDS - start))s (see $RUN_DIR/vm-$NAME.qemu.log)"
    sed 's/^/qemu: /' "$RUN_DIR/vm-$NAME.qemu.log" >&2 || true
    [[ -n "${VM_UNTIL_REGEX:-}" ]] && rc=1
    break
  fi
  if [[ -n "${VM_UNTIL_REGEX:-}" ]] && [[ -f "$until_file" ]] &&
    (($(tail -c "+$until_offset" "$until_file" | sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tr -d '\r\b' |
      grep -cE -- "$VM_UNTIL_REGEX") >= ${VM_UNTIL_COUNT:-1})); then
    timed_out=0
    log "vm $NAME: '$VM_UNTIL_REGEX' seen after ~$((SECONDS - start))s"
    break
  fi
  sleep 0.2
done
if ((timed_out)); then
  log "vm $NAME: time limit ${SECONDS_LIMIT}s reached"
  [[ -n "${VM_UNTIL_REGEX:-}" ]] && rc=124
fi
exit "$rc"
