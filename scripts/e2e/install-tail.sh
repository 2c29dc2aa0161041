#!/usr/bin/env bash
# End to end, the install's tail and the delivery, for real (a BIOS or a UEFI PC):
#   1. Debian's package cache: a private apt-cacher-ng (scripts/e2e/package-cache.sh) on the
#      host's loopback, reached from the bench LAN only through a forwarder on the server's
#      address, port 3142 (socat, over a Unix socket): garage-pxe's installer.proxy auto
#      finds it there, and the preseed served to the PC names it.
#   2. The PC's disk as the installer leaves it: a Debian 13 root made by debootstrap through
#      that cache (scripts/e2e/installed-root.sh, cached), on an overlay per run.
#   3. The PC starts its install as the installer does (entry script with its install token,
#      then its preseed over HTTP, from the PC's own MAC and address on the bench LAN); the
#      preseed's late_command, exactly as served, runs in a busybox environment like the
#      installer's (busybox sh and wget, /target, in-target = chroot /target): the
#      post-install script is fetched and run, postinstall-done and finished reported, the
#      first-boot service installed.
#   4. The disk is partitioned like the preseed's atomic recipe (BIOS: msdos, / bootable,
#      swap in a logical partition, GRUB (the root's own, 2.12) in the MBR; UEFI: GPT with
#      an EFI system partition holding Debian's signed shim and GRUB as grub-install leaves
#      them, in \EFI\debian and at the removable path), its ext4 made from the root. The PC
#      powers on with the network first: garage-pxe's menu defaults to the local disk
#      (install once, from the journal), the network loader hands over to the disk, Debian
#      boots under systemd and its first-boot service reports: machine.delivered.
#   5. Every event of the PC in order, one install ID; `garage-pxe machines` says delivered;
#      `garage-pxe rearm` with the admin token; one more network boot: the installer is the
#      menu's default again.
#
# Modes (the network loader that hands over to the disk):
#   bios       SeaBIOS and QEMU's iPXE ROM: iPXE's sanboot.
#   uefi-sb    OVMF with Secure Boot on and Microsoft's keys (a PC as sold), the default
#              chain (Debian's signed shim and GRUB): GRUB finds the disk's shim and
#              chainloads it.
#   uefi       the same with Secure Boot off.
#   uefi-ipxe  OVMF, the PC listed under proxy_dhcp.uefi_ipxe only (EDK2's PXE, then
#              bootfiles.efi_ipxe's default, snponly.efi): iPXE's `exit 1` hands back to the
#              firmware, which moves on to its next boot options and so to the disk's
#              (removable path).
#
# --removable-only (uefi, uefi-sb): the ESP holds only the removable path, as
# `grub-install --removable` leaves it (\EFI\BOOT: shim as BOOTX64.EFI, GRUB, MokManager and
# grub.cfg; no \EFI\debian): the network GRUB's local-disk entry must fall back to
# \EFI\BOOT\BOOTX64.EFI, and Debian's signed GRUB there reads the grub.cfg beside it.
#
# Usage: install-tail.sh bios|uefi|uefi-sb|uefi-ipxe [--removable-only] [--limit SECONDS]   (bound on each guest boot; default 420)
# Environment: see scripts/e2e/lib.sh; GARAGE_PXE_CACHE (default /var/cache/garage-pxe-tests)
# holds the root and the package cache's files.
set -euo pipefail

LIMIT=420
MODE=""
REMOVABLE_ONLY=0
USAGE="usage: $0 bios|uefi|uefi-sb|uefi-ipxe [--removable-only] [--limit SECONDS]"
while [[ $# -gt 0 ]]; do
  case "$1" in
    bios | uefi | uefi-sb | uefi-ipxe) MODE="$1" ;;
    --removable-only) REMOVABLE_ONLY=1 ;;
    --limit) LIMIT="$2"; shift ;;
    *) echo "$USAGE" >&2; exit 2 ;;
  esac
  shift
done
[[ -n "$MODE" ]] || { echo "$USAGE" >&2; exit 2; }
[[ "$REMOVABLE_ONLY" == 0 || "$MODE" == uefi || "$MODE" == uefi-sb ]] || { echo "--removable-only is for uefi and uefi-sb" >&2; exit 2; }

# One letter per mode names the lab and the PC (so its MAC); VM_MODE is boot-vm.sh's.
case "$MODE" in
  bios) LETTER=b VM_MODE=bios ;;
  uefi) LETTER=u VM_MODE=uefi ;;
  uefi-sb) LETTER=s VM_MODE=uefi-sb ;;
  uefi-ipxe) LETTER=i VM_MODE=uefi ;;
esac
# The removable-only disk is another lab and PC (run beside the usual one).
((REMOVABLE_ONLY)) && LETTER=${LETTER}r
E2E_NAME=tail$LETTER
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE="$E2E_REPO/scripts/e2e"
PC=pctail$LETTER
PC_ADDR=10.77.0.60
TAIL_MOUNTS=()

# The package cache and its forwarder must answer before garage-pxe starts (it decides
# installer.proxy auto at start). The uefi-ipxe PC is listed for iPXE only, so it gets the
# shipped default loader (snponly.efi): iPXE's local-disk entry on UEFI leaves iPXE
# (`exit 1`) so that the firmware boots its next option, and the test shows the default
# does hand over (Debian 12's ipxe.efi never came back from that exit under OVMF).
e2e_customise() {
  if [[ "$MODE" == uefi-ipxe ]]; then
    eval "$("$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$PC" info)"
    e2e_uefi_ipxe "$VM_MAC"
  fi
  CACHE_DIR="$RUN/package-cache"
  CACHE_PORT=$("$HERE/package-cache.sh" start "$CACHE_DIR")
  E2E_PIDS+=("$(cat "$CACHE_DIR/pid")")
  socat "UNIX-LISTEN:$RUN/acng.sock,fork,mode=600" "TCP:127.0.0.1:$CACHE_PORT" </dev/null >"$RUN/forward-host.log" 2>&1 &
  E2E_PIDS+=($!)
  for _ in $(seq 50); do [[ -S "$RUN/acng.sock" ]] && break; sleep 0.1; done
  ip netns exec "$LAB_NS_SRV" socat "TCP-LISTEN:3142,bind=$LAB_SRV_ADDR,fork,reuseaddr" "UNIX-CONNECT:$RUN/acng.sock" \
    </dev/null >"$RUN/forward-lan.log" 2>&1 &
  E2E_PIDS+=($!)
  for _ in $(seq 50); do ip netns exec "$LAB_NS_SRV" ss -ltn | grep -q "$LAB_SRV_ADDR:3142" && break; sleep 0.1; done
  e2e_log "package cache: apt-cacher-ng on 127.0.0.1:$CACHE_PORT, forwarded to $LAB_SRV_ADDR:3142 on the bench LAN"
}

# serial_shows REGEX: the PC's console shows REGEX (firmware escapes stripped). grep reads
# to the end (no -q): an early exit would fail the pipeline on SIGPIPE under pipefail.
serial_shows() { sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$VM_SERIAL_LOG" | tr -d '\r' | grep -aE -- "$1" >/dev/null; }

# last_menu_default_is ENTRY: the PC's latest menu.shown names ENTRY as its default.
last_menu_default_is() { pc_events "$MAC" | grep '^menu.shown ' | tail -1 | grep -q " entry=$1 "; }

tail_cleanup() {
  local rc=$?
  for ((i = ${#TAIL_MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${TAIL_MOUNTS[$i]}" 2>/dev/null || true; done
  [[ -n "${PCNS:-}" ]] && ip netns delete "$PCNS" 2>/dev/null
  # e2e_cleanup reads the script's exit status from $?.
  set +e
  (exit "$rc")
  e2e_cleanup
}

e2e_setup
trap tail_cleanup EXIT
base="http://$LAB_SRV_ADDR:$LAB_HTTP_PORT"
eval "$("$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$PC" info)"
MAC="$VM_MAC"
printf -v "MAC_$PC" '%s' "$MAC"
PLATFORM=pcbios
[[ "$MODE" == uefi* ]] && PLATFORM=efi

# ---- 2. the root, built through the cache (cached between runs) ---------------------------
# Every run's apt-cacher-ng keeps its files in the one cache folder, and apt-cacher-ng is
# made for one daemon per folder: two fetching the same file at once (the Release file both
# check below) could write it over each other. So the part of a run that fetches through the
# cache (the root's build, the archive check) holds a lock; runs side by side take turns
# there, for a second once the root is built. The daemon stays up after (the preseed names
# it), idle.
exec 8>"${GARAGE_PXE_CACHE:-/var/cache/garage-pxe-tests}/.package-cache.lock"
flock -w 1800 8 || { echo "another run has fetched through the package cache for 30 minutes" >&2; exit 1; }
start=$SECONDS
ROOT=$(bash "$HERE/installed-root.sh" "$CACHE_PORT" 2>"$RUN/root.log") || { cat "$RUN/root.log" >&2; exit 1; }
e2e_log "root: $ROOT ($((SECONDS - start)) s; $(grep -c . "$RUN/root.log" || true) lines of debootstrap output)"

# ---- 3. the PC on the bench LAN, as its installer: entry, preseed, late_command ------------
PCNS="$E2E_PREFIX-pc"
ip netns add "$PCNS"
ip -n "$LAB_NS_LAN" link add pcv type veth peer name eth0 netns "$PCNS"
ip -n "$LAB_NS_LAN" link set pcv master "$LAB_BRIDGE" up
ip -n "$PCNS" link set eth0 address "$MAC"
ip -n "$PCNS" link set lo up
ip -n "$PCNS" addr add "$PC_ADDR/$LAB_PREFIXLEN" dev eth0
ip -n "$PCNS" link set eth0 up
script=$(ip netns exec "$PCNS" curl -sS -m 30 "$base/boot/debian-13-auto.ipxe?mac=$MAC&platform=$PLATFORM")
token=$(printf '%s' "$script" | grep -o 'token=[0-9a-f]*' | head -n 1 | cut -d= -f2)
[[ -n "$token" ]] || { echo "no install token in the entry script: $script" >&2; exit 1; }
ip netns exec "$PCNS" curl -sS -m 30 -o "$RUN/preseed.cfg" "$base/preseed/debian-13-auto.cfg?mac=$MAC&token=$token"
check "the preseed names the package cache as the installer's proxy (installer.proxy auto)" \
  grep -qx "d-i mirror/http/proxy string http://$LAB_SRV_ADDR:3142" "$RUN/preseed.cfg"
check "the PC reaches Debian's archive through the cache on the server (and only so)" \
  ip netns exec "$PCNS" curl -sf -m 60 -o /dev/null -x "http://$LAB_SRV_ADDR:3142" http://deb.debian.org/debian/dists/trixie/Release
flock -u 8
exec 8>&-
# The late_command as debconf gives it to the installer: the preseed's value with its
# line continuations joined.
"$E2E_PYTHON" - "$RUN/preseed.cfg" >"$RUN/late_command.sh" <<'PY'
import sys
text = open(sys.argv[1]).read().replace("\\\n", "")
for line in text.splitlines():
    if line.startswith("d-i preseed/late_command string "):
        print(line[len("d-i preseed/late_command string "):])
        break
else:
    sys.exit("no late_command in the preseed")
PY
check "the late_command carries the PC's install token" grep -q "token=$token" "$RUN/late_command.sh"

# /target: an overlay on the cached root (the cache never changes).
mkdir -p "$RUN/upper" "$RUN/work" "$RUN/target"
mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$RUN/upper,workdir=$RUN/work" "$RUN/target"
TAIL_MOUNTS+=("$RUN/target")
# The installer's environment: busybox (sh, wget, chroot...) with its libraries, /target,
# and in-target as chroot into it; the late_command runs there, in the PC's namespace.
DI="$RUN/d-i"
mkdir -p "$DI/bin" "$DI/target" "$DI/lib64" "$DI/lib/x86_64-linux-gnu" "$DI/dev" "$DI/proc" "$DI/tmp"
cp /bin/busybox "$DI/bin/"
for lib in $(ldd /bin/busybox | grep -o '/lib[^ ]*'); do cp "$lib" "$DI$lib"; done
for applet in sh wget chmod echo chroot mount cat; do ln -s busybox "$DI/bin/$applet"; done
cat >"$DI/bin/in-target" <<'INTARGET'
#!/bin/sh
# The installer's in-target: the command inside the installed system.
exec chroot /target "$@"
INTARGET
chmod 755 "$DI/bin/in-target"
mount --bind /dev "$DI/dev"; TAIL_MOUNTS+=("$DI/dev")
mount --bind "$RUN/target" "$DI/target"; TAIL_MOUNTS+=("$DI/target")
mount -t proc proc "$DI/target/proc"; TAIL_MOUNTS+=("$DI/target/proc")
mount --bind /dev "$DI/target/dev"; TAIL_MOUNTS+=("$DI/target/dev")
if ip netns exec "$PCNS" chroot "$DI" /bin/sh -c "$(cat "$RUN/late_command.sh")" >"$RUN/late_command.log" 2>&1; then
  e2e_log "late_command: exit 0"
else
  e2e_log "FAIL late_command exited $? ($(tr '\n' ' ' <"$RUN/late_command.log" | cut -c1-300))"
  E2E_FAIL=1
fi
for ((i = ${#TAIL_MOUNTS[@]} - 1; i >= 1; i--)); do umount "${TAIL_MOUNTS[$i]}"; done
TAIL_MOUNTS=("$RUN/target")
check "late_command: the post-install script ran in the target" grep -q "hostname=" "$RUN/target/var/log/atelier-install.log"
check "late_command: the first-boot service is enabled" test -L "$RUN/target/etc/systemd/system/multi-user.target.wants/garage-pxe-first-boot.service"
check "late_command: the first-boot configuration holds the PC's progress URL" \
  grep -qE "^GARAGE_PXE_PROGRESS_URL=$base/progress\?.*token=$token.*stage=first-boot" "$RUN/target/etc/garage-pxe-first-boot.conf"
check "installer.started: the preseed fetched with the token" has_event "$MAC" installer.started entry=debian-13-auto
check "postinstall.done: reported by the late_command" has_event "$MAC" postinstall.done
check "installer.finished: reported by the late_command" has_event "$MAC" installer.finished

# netcfg's file for the PC's NIC, named as the installed kernel and udev name it (the
# installer writes the name it found): ens3 on this BIOS PC (i440fx, slot 3), enp0s2 on the
# q35 UEFI PC (no ACPI slot numbers on its root bus).
nic=ens3
[[ "$MODE" == uefi* ]] && nic=enp0s2
cat >"$RUN/target/etc/network/interfaces" <<IFACES
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
allow-hotplug $nic
iface $nic inet dhcp
IFACES

# ---- 4. the disk: the atomic recipe, ext4 made from the root, GRUB ----------------------
# BIOS: msdos label, / (bootable) then swap in a logical partition, GRUB's boot image in the
# MBR and its core image in the gap before the first partition. UEFI: GPT, an EFI system
# partition (FAT) mounted on /boot/efi, /, swap; on the ESP what grub-install writes with
# Secure Boot support (shim-signed installed) and the preseed's force-efi-extra-removable:
# Debian's signed shim, GRUB, MokManager and fallback in \EFI\debian with the grub.cfg
# that finds / by its UUID, and shim, GRUB and MokManager again at the removable path
# (\EFI\BOOT\BOOTX64.EFI is shim). The BIOS GRUB is the root's own (2.12), made by its
# grub-mkimage; the signed GRUB's built-in prefix is \EFI\debian. Each finds / by its UUID.
DISK="$RUN/disk.img"
ROOT_MIB=2048 SWAP_MIB=256 ESP_MIB=0
[[ "$MODE" == uefi* ]] && ESP_MIB=512
truncate -s $((1 + ESP_MIB + ROOT_MIB + 1 + SWAP_MIB + 1))M "$DISK"
if [[ "$MODE" == bios ]]; then
  sfdisk -q "$DISK" <<PARTS
label: dos
start=1MiB, size=${ROOT_MIB}MiB, type=83, bootable
type=5
type=82
PARTS
  ROOT_INDEX=0 SWAP_INDEX=2 GRUB_PLATFORM=i386-pc
else
  sfdisk -q "$DISK" <<PARTS
label: gpt
start=1MiB, size=${ESP_MIB}MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI System Partition"
size=${ROOT_MIB}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4
type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
PARTS
  ROOT_INDEX=1 SWAP_INDEX=2 GRUB_PLATFORM=x86_64-efi
fi
fsuuid=$(cat /proc/sys/kernel/random/uuid)
swapuuid=$(cat /proc/sys/kernel/random/uuid)
espid=$(printf '%04X%04X' $((RANDOM)) $((RANDOM)))
kernel=$(cd "$RUN/target/boot" && ls vmlinuz-* | sort -V | tail -1)
initrd="initrd.img-${kernel#vmlinuz-}"
{
  echo "# /etc/fstab as partman writes it for the atomic recipe"
  echo "UUID=$fsuuid / ext4 errors=remount-ro 0 1"
  [[ "$MODE" == uefi* ]] && echo "UUID=${espid:0:4}-${espid:4:4} /boot/efi vfat umask=0077 0 1"
  echo "UUID=$swapuuid none swap sw 0 0"
} >"$RUN/target/etc/fstab"
mkdir -p "$RUN/target/boot/grub/$GRUB_PLATFORM" "$RUN/target/boot/efi"
cp "$RUN/target/usr/lib/grub/$GRUB_PLATFORM/"*.mod "$RUN/target/usr/lib/grub/$GRUB_PLATFORM/"*.lst "$RUN/target/boot/grub/$GRUB_PLATFORM/"
if [[ "$MODE" == bios ]]; then
  # The image's first configuration: find / by its UUID, then read /boot/grub/grub.cfg there.
  cat >"$RUN/target/boot/grub/$GRUB_PLATFORM/load.cfg" <<LOADCFG
search.fs_uuid $fsuuid root
set prefix=(\$root)/boot/grub
LOADCFG
  chroot "$RUN/target" grub-mkimage -O i386-pc -d /usr/lib/grub/i386-pc -o /boot/grub/i386-pc/core.img \
    -c /boot/grub/i386-pc/load.cfg -p /boot/grub biosdisk part_msdos ext2 search_fs_uuid
  cp "$RUN/target/usr/lib/grub/i386-pc/boot.img" "$RUN/target/boot/grub/i386-pc/"
else
  # The signed GRUB reads \EFI\debian\grub.cfg, which grub-install writes: find / by its
  # UUID, then read /boot/grub/grub.cfg there.
  cat >"$RUN/esp-grub.cfg" <<ESPCFG
search.fs_uuid $fsuuid root
set prefix=(\$root)'/boot/grub'
configfile \$prefix/grub.cfg
ESPCFG
fi
# GRUB's console on the serial port too: BIOS only (on UEFI the firmware's console, which
# GRUB writes to, already reaches the serial port).
serial_console=""
[[ "$MODE" == bios ]] && serial_console="serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial"
cat >"$RUN/target/boot/grub/grub.cfg" <<GRUBCFG
set default=0
set timeout=1
$serial_console
insmod ext2
search --no-floppy --fs-uuid --set=root $fsuuid
menuentry 'Debian GNU/Linux' {
  linux /boot/$kernel root=UUID=$fsuuid ro console=ttyS0,115200n8
  initrd /boot/$initrd
}
GRUBCFG
rootpart="$RUN/root.ext4"
swappart="$RUN/swap.img"
mkfs.ext4 -q -F -U "$fsuuid" -L debian -d "$RUN/target" "$rootpart" "${ROOT_MIB}M"
truncate -s "${SWAP_MIB}M" "$swappart"
mkswap -q -U "$swapuuid" "$swappart" >/dev/null
starts=$(sfdisk -J "$DISK" | "$E2E_PYTHON" -c '
import json, sys
print(" ".join(str(p["start"]) for p in json.load(sys.stdin)["partitiontable"]["partitions"]))')
read -r -a start_of <<<"$starts"
dd if="$rootpart" of="$DISK" bs=512 seek="${start_of[$ROOT_INDEX]}" conv=notrunc,sparse status=none
dd if="$swappart" of="$DISK" bs=512 seek="${start_of[$SWAP_INDEX]}" conv=notrunc status=none
rm -f "$rootpart" "$swappart"
if [[ "$MODE" == bios ]]; then
  # boot.img in the MBR (its first 440 bytes: the partition table stays), core.img in the
  # gap from sector 1, where boot.img's default kernel sector and the block list that
  # grub-mkimage writes into core.img's first sector point (what grub-bios-setup embeds;
  # it cannot run here: it looks for the block device under /boot/grub, an overlay).
  dd if="$RUN/target/boot/grub/i386-pc/boot.img" of="$DISK" bs=440 count=1 conv=notrunc status=none
  dd if="$RUN/target/boot/grub/i386-pc/core.img" of="$DISK" bs=512 seek=1 conv=notrunc status=none
  check "GRUB's boot image is in the MBR" bash -c "dd if='$DISK' bs=512 count=1 status=none | grep -aq GRUB"
else
  esp="$RUN/esp.fat"
  signed="$RUN/target/usr/lib/shim" grubsigned="$RUN/target/usr/lib/grub/x86_64-efi-signed"
  mkfs.fat -C -i "$espid" -n EFI "$esp" $((ESP_MIB * 1024)) >/dev/null
  mmd -i "$esp" ::/EFI ::/EFI/BOOT
  if ((REMOVABLE_ONLY)); then
    # grub-install --removable: its grub.cfg beside GRUB (the signed GRUB, not finding its
    # built-in \EFI\debian, reads the grub.cfg of the folder it was loaded from).
    mcopy -i "$esp" "$RUN/esp-grub.cfg" ::/EFI/BOOT/grub.cfg
  else
    mmd -i "$esp" ::/EFI/debian
    mcopy -i "$esp" "$signed/shimx64.efi.signed" ::/EFI/debian/shimx64.efi
    mcopy -i "$esp" "$grubsigned/grubx64.efi.signed" ::/EFI/debian/grubx64.efi
    mcopy -i "$esp" "$signed/mmx64.efi.signed" ::/EFI/debian/mmx64.efi
    mcopy -i "$esp" "$signed/fbx64.efi.signed" ::/EFI/debian/fbx64.efi
    mcopy -i "$esp" "$signed/BOOTX64.CSV" ::/EFI/debian/BOOTX64.CSV
    mcopy -i "$esp" "$RUN/esp-grub.cfg" ::/EFI/debian/grub.cfg
  fi
  mcopy -i "$esp" "$signed/shimx64.efi.signed" ::/EFI/BOOT/BOOTX64.EFI
  mcopy -i "$esp" "$grubsigned/grubx64.efi.signed" ::/EFI/BOOT/grubx64.efi
  mcopy -i "$esp" "$signed/mmx64.efi.signed" ::/EFI/BOOT/mmx64.efi
  dd if="$esp" of="$DISK" bs=512 seek="${start_of[0]}" conv=notrunc,sparse status=none
  if ((REMOVABLE_ONLY)); then
    check "the ESP holds Debian's signed shim and GRUB at the removable path only" \
      bash -c "mdir -i '$esp' ::/EFI/BOOT | grep -q BOOTX64 && ! mdir -i '$esp' ::/EFI/debian >/dev/null 2>&1"
  else
    check "the ESP holds Debian's signed shim and GRUB in \\EFI\\debian and at the removable path" \
      bash -c "mdir -i '$esp' ::/EFI/debian | grep -qi shimx64 && mdir -i '$esp' ::/EFI/BOOT | grep -q BOOTX64"
  fi
  rm -f "$esp"
fi
e2e_log "disk: $DISK ($(du -h "$DISK" | cut -f1) used), $MODE, kernel $kernel, root UUID $fsuuid"

# ---- 5. power on with the network first --------------------------------------------------
ip netns delete "$PCNS"   # the QEMU PC takes its MAC on the bench LAN now
PCNS=""
# The disk second in the boot order (the card first): "network, then disk", as a bench PC's
# setup screen says it. The signed chain's GRUB goes to the disk itself. uefi-ipxe: iPXE
# can only hand back to the firmware. OVMF builds its BootOrder from QEMU's bootindex
# order: the card's boot options (IPv4 PXE, IPv4 HTTP, IPv6 PXE, IPv6 HTTP), then the
# disk's ("UEFI Misc Device", its removable path \EFI\BOOT\BOOTX64.EFI), then its own
# setup screen. With no IPv6 router on the bench LAN each IPv6 option waits minutes under
# TCG, so that PC has its IPv6 network stack off (a firmware setting, as on a bench PC's
# setup screen); its IPv4 HTTP boot gets iPXE again from garage-pxe, whose menu again
# picks the disk and exits, then the firmware starts the disk.
DISK_ARGS="-drive file=$DISK,format=raw,if=none,id=disk0 -device virtio-blk-pci,drive=disk0,bootindex=2"
[[ "$MODE" == uefi-ipxe ]] && DISK_ARGS+=" -fw_cfg name=opt/org.tianocore/IPv6Support,string=n"
VM_EXTRA_ARGS="$DISK_ARGS" start_pc "$PC" "$VM_MODE" "$((LIMIT + 30))"
check "machine.delivered within ${LIMIT}s of power-on" wait_for_event "$MAC" machine.delivered "$LIMIT"
"$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$PC" stop >/dev/null 2>&1 || true
check "menu.shown: the installed PC's menu defaults to the local disk (install once)" last_menu_default_is disque-local
case "$MODE" in
  bios) handover="iPXE's sanboot" ;;
  uefi-ipxe) handover="iPXE's exit, then the firmware"
    # The shipped config's efi_ipxe, no loader set by the test, no PC under proxy_dhcp.snponly.
    check "the test config keeps the shipped bootfiles.efi_ipxe and an empty proxy_dhcp.snponly" \
      "$E2E_PYTHON" -c 'import re, sys
shipped, test = (open(p).read() for p in sys.argv[1:])
efi_ipxe = lambda t: re.findall(r"(?m)^  efi_ipxe: (.*)$", t)
snponly = re.search(r"(?m)^  snponly:\n(?:    #.*\n)*    macs: \[\]\n(?:    #.*\n)*    vendors: \[\]\n", test)
sys.exit(0 if efi_ipxe(test) == efi_ipxe(shipped) == ["snponly.efi"] and snponly else 1)' "$E2E_REPO/config/garage-pxe.yaml" "$E2E_CONFIG"
    check "dhcp.offer: snponly.efi, bootfiles.efi_ipxe's default, to the EDK2 client" \
      has_event "$MAC" dhcp.offer arch=efi-bc file=snponly.efi
    check "tftp.sent: snponly.efi, the iPXE that returns from its exit" has_event "$MAC" tftp.sent file=snponly.efi
    # OVMF's boot manager says which boot option it tries (BdsDxe lines on the console).
    check "iPXE's exit 1 went back to the firmware as an error (its PXE boot option failed)" \
      serial_shows 'BdsDxe: failed to start Boot[0-9A-F]{4} "UEFI PXEv4'
    check "the firmware then started the disk's boot option (removable path)" \
      serial_shows 'BdsDxe: starting Boot[0-9A-F]{4} "UEFI Misc Device' ;;
  *) handover="the network GRUB chainloading the disk's shim"
    if ((REMOVABLE_ONLY)); then
      check "the network GRUB found no \\EFI\\debian and chainloaded the disk's removable path" \
        serial_shows "demarrage du disque \(hd[0-9]+,gpt1\)/EFI/BOOT/BOOTX64.EFI"
    else
      check "the network GRUB found the installed Debian's shim on the disk and chainloaded it" \
        serial_shows "demarrage du disque \(hd[0-9]+,gpt1\)/EFI/debian/shimx64.efi"
    fi ;;
esac
check "$handover handed over to the disk: the installed kernel on the console" serial_shows "Linux version"
if [[ "$MODE" == uefi-sb ]]; then
  # Linux's EFI stub says so when the firmware enforces Secure Boot: shim, GRUB and the
  # kernel on the disk all passed it.
  check "the installed kernel booted with Secure Boot enforced (EFI stub on the console)" \
    serial_shows "UEFI Secure Boot is enabled"
fi
delivered_at="$(first_event_time "$MAC" machine.delivered)" || true
if [[ -n "$delivered_at" ]]; then
  printf 'e2e[%s]: timing power-on -> machine.delivered %.1f s (%s)\n' "$E2E_NAME" \
    "$(echo "$delivered_at - $(eval echo "\$POWER_ON_$PC")" | bc)" "$MODE$( ((REMOVABLE_ONLY)) && echo ", removable path only")"
fi
check "the installed Debian ran systemd" serial_shows "systemd\[1\]|Welcome to .*Debian"
check "machine.delivered: the first-boot service reported" has_event "$MAC" machine.delivered
machines=$("$E2E_BIN" machines --directory "$E2E_JOURNAL" 2>&1 || true)
echo "$machines" >"$RUN/machines.txt"
check "garage-pxe machines shows the PC delivered" bash -c "grep -i '$MAC' '$RUN/machines.txt' | grep -qi deliver"
# The bench page's data (what its table shows), asked on the server like the page does.
ip netns exec "$LAB_NS_SRV" curl -s -m 10 "http://127.0.0.1:$LAB_HTTP_PORT/api/machines/$MAC" >"$RUN/bench-machine.json" || true
check "the bench page shows the PC delivered (/api/machines/MAC)" "$E2E_PYTHON" -c '
import json, sys
m = json.load(open(sys.argv[1]))["machine"]
sys.exit(0 if m["stage"] == "machine.delivered" and m["summary"]["result"] == "delivered" else 1)' "$RUN/bench-machine.json"

# Every event of the PC in order, one install ID from installer.started to machine.delivered.
pc_events "$MAC" | grep -v '^installer.log' >"$RUN/events.txt"
check "events in order: installer.started, postinstall.done, installer.finished, menu.shown disque-local, machine.delivered" \
  "$E2E_PYTHON" - "$RUN/events.txt" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1])]
names = [l[0] for l in lines]
want = ["installer.started", "postinstall.done", "installer.finished", "menu.shown", "machine.delivered"]
pos = -1
for w in want:
    found = [i for i, n in enumerate(names) if n == w and i > pos]
    if not found:
        sys.exit("missing after position %d: %s" % (pos, w))
    pos = found[0]
start = names.index("installer.started")
end = names.index("machine.delivered")
ids = {f for l in lines[start:end + 1] for f in l if f.startswith("install_id=")}
tagged = {l[0] for l in lines[start:end + 1] if any(f.startswith("install_id=") for f in l)}
if len(ids) != 1 or not {"installer.started", "installer.finished", "machine.delivered"} <= tagged:
    sys.exit("install ids %s on %s" % (ids, tagged))
PY

# ---- 6. rearm (the admin way), one more network boot: the installer is the default ---------
# On the server (its namespace), as an admin would: the CLI reads the admin token from the state.
ip netns exec "$LAB_NS_SRV" "$E2E_BIN" rearm "$MAC" --config "$E2E_CONFIG" --state "$RUN/state" --http-port "$LAB_HTTP_PORT" >"$RUN/rearm.log" 2>&1 || true
check "garage-pxe rearm: accepted with the admin token" grep -q "rearmed" "$RUN/rearm.log"
check "machine.rearmed in the journal" wait_for_event "$MAC" machine.rearmed 20
shown_before=$(pc_events "$MAC" | grep -c '^menu.shown ' || true)
VM_EXTRA_ARGS="$DISK_ARGS" start_pc "$PC" "$VM_MODE" 240
deadline=$((SECONDS + 240))
while ((SECONDS < deadline)) && (($(pc_events "$MAC" | grep -c '^menu.shown ' || true) <= shown_before)); do sleep 2; done
"$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$PC" stop >/dev/null 2>&1 || true
check "after rearm, the next network boot's menu defaults to the installer" last_menu_default_is debian-13-auto

e2e_log "package cache: $("$HERE/package-cache.sh" stats "$CACHE_DIR")"
show_evidence "$MAC"
if ((E2E_FAIL == 0)); then e2e_log "PASS"; else e2e_log "FAIL"; fi
exit "$E2E_FAIL"
