#!/usr/bin/env bash
# Prints the path of a cached Debian root as the Debian installer leaves one for the shipped
# preseed, before its late_command: Debian 13 (trixie, the shipped menus' release) made by
# debootstrap, with a kernel and its initramfs, GRUB's BIOS and UEFI files (Debian's signed
# shim and GRUB too, as grub-installer installs them on a UEFI PC), ifupdown and a
# DHCP client (the test writes /etc/network/interfaces for the PC's NIC, as netcfg does),
# the user "atelier" (password "atelier"), and systemd as PID 1. Built once through the package cache (scripts/e2e/package-cache.sh, Debian's real
# apt-cacher-ng, the only thing that reaches Debian's archive) into
# /var/cache/garage-pxe-tests/trixie-installed; later runs reuse it.
#
#   installed-root.sh CACHE-PORT [CACHE-DIR]
#
# The root is rebuilt when its stamp is missing or names another recipe (a change to the
# RECIPE line), so an interrupted build never counts as a root. With GARAGE_PXE_ROOT_REBUILD=1
# a fresh root is built into a temporary folder and thrown away (to measure the cache).
set -euo pipefail

port=${1:?usage: installed-root.sh CACHE-PORT [CACHE-DIR]}
cache=${2:-${GARAGE_PXE_CACHE:-/var/cache/garage-pxe-tests}}
root="$cache/trixie-installed"
RECIPE="trixie minbase systemd linux-image-amd64 grub-pc-bin grub-efi-amd64-bin grub2-common shim-signed grub-efi-amd64-signed ifupdown dhcpcd-base atelier 3"
# One build at a time (the BIOS and UEFI tests start side by side): the second waits, then
# finds the root made.
mkdir -p "$cache"
exec 9>"$cache/.trixie-installed.lock"
flock -w 1800 9 || { echo "root: another build holds $cache/.trixie-installed.lock" >&2; exit 1; }
if [[ "${GARAGE_PXE_ROOT_REBUILD:-0}" != 1 && -f "$root/.garage-pxe-root" && "$(cat "$root/.garage-pxe-root")" == "$RECIPE" ]]; then
  echo "$root"
  exit 0
fi

mirror="http://127.0.0.1:$port/debian"
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'umount -R "$tmp/root/proc" 2>/dev/null || true; rm -rf "$tmp"' EXIT
start=$SECONDS
# What the installer's base system, kernel and boot-loader steps install on a BIOS or UEFI
# PC with the shipped preseed's answers (no desktop: the late_command and the first boot
# are what the test is about), plus ifupdown and a DHCP client as netcfg leaves them. On a
# UEFI PC grub-installer adds shim-signed and grub-efi-amd64-signed: the ESP then holds
# Microsoft-signed shim and Debian-signed GRUB, so the disk boots with Secure Boot on.
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,udev,kmod,linux-image-amd64,initramfs-tools,grub-pc-bin,grub-efi-amd64-bin,grub2-common,shim-signed,grub-efi-amd64-signed,ifupdown,dhcpcd-base,iproute2,passwd,login \
  trixie "$tmp/root" "$mirror" >&2
cat >"$tmp/root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian trixie main non-free-firmware
SOURCES
echo "atelier" >"$tmp/root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tatelier\n' >"$tmp/root/etc/hosts"
chroot "$tmp/root" useradd -m -s /bin/bash -c Utilisateur atelier
echo 'atelier:atelier' | chroot "$tmp/root" chpasswd
chroot "$tmp/root" apt-get clean
echo "$RECIPE" >"$tmp/root/.garage-pxe-root"
echo "root: built in $((SECONDS - start)) s" >&2
if [[ "${GARAGE_PXE_ROOT_REBUILD:-0}" == 1 ]]; then
  echo "root: rebuilt only to measure the cache; kept $root" >&2
  echo "$root"
  exit 0
fi
rm -rf "$root"
mv "$tmp/root" "$root"
echo "$root"
