#!/usr/bin/env bash
# Installs the Debian packages a profile needs, and only those that are missing, so
# `make serve` and `make test` work on a fresh Debian 12 machine that has only the Swift
# toolchain. Profiles: build (compile), serve (run the daemon), deb (package it), test
# (everything the test suite drives: real PXE clients, real peers, real TFTP clients).
# serve and test also fetch Debian 13's netboot installer (scripts/fetch-debian13-netboot.sh:
# download-only, private apt sources, unpacked into a cache folder; the host's apt sources
# are never changed).
set -euo pipefail

profile=${1:-build}
build=(libsystemd-dev pkg-config zlib1g-dev)
# apt-cacher-ng: the bench's package cache (installer.proxy auto gives it to the installer).
serve=("${build[@]}" ipxe apt-cacher-ng)
deb=("${build[@]}" dpkg-dev lintian chrpath)
# systemd: the private systemd-journald of the journal tests and e2e; bsdutils: logger, a real syslog client.
# debian-installer-12-netboot-amd64: the import tests read a real Debian 12 tree too.
test=("${serve[@]}" debian-installer-12-netboot-amd64 dpkg-dev lintian chrpath iproute2 dnsmasq-base qemu-system-x86 ovmf ipxe-qemu tcpdump tftp-hpa atftp curl busybox python3 systemd bsdutils)
# systemd-journal-remote: the multi-site test merges two sites' journals with it.
test+=(systemd-journal-remote)
# The bench page test: a real headless Chromium driven over the DevTools protocol.
test+=(chromium python3-websocket)
# The package test boots a Debian root with systemd-nspawn; debootstrap builds that root once.
test+=(systemd-container debootstrap)
# make demo: socat carries the bench page from the bench LAN to the host's loopback.
test+=(socat)
# grub-script-check: the rendered GRUB configurations are parsed by GRUB's own checker.
test+=(grub-common)
# The diagnostic and erase e2e (scripts/e2e/wipe-boot.sh): bc for its timings and the
# throughput figures (the image itself comes from `garage-pxe import wipe`, apt download only).
test+=(bc)
# The install's tail (scripts/e2e/install-tail.sh): an installed PC's disk made from a
# debootstrap root (through a private apt-cacher-ng, package serve), partitioned with
# sfdisk, ext4 and FAT file systems made from folders. GRUB is the root's own (debootstrap
# installs grub-pc-bin and grub-efi-amd64-bin in it), run with chroot.
test+=(fdisk e2fsprogs dosfstools mtools)
# The hand start's privilege gate: strace holds each thread's setresuid, widening the window
# between binding and the last privilege step to seconds (PrivilegeGateTests).
test+=(strace)

case "$profile" in
  build) wanted=("${build[@]}") ;;
  serve) wanted=("${serve[@]}") ;;
  test) wanted=("${test[@]}") ;;
  deb) wanted=("${deb[@]}") ;;
  *) echo "usage: $0 build|serve|test|deb" >&2; exit 2 ;;
esac

# Debian 13's netboot installer (the shipped menus install Debian 13), after the packages.
fetch_debian13() {
  case "$profile" in
    serve | test) bash "$(dirname "${BASH_SOURCE[0]}")/fetch-debian13-netboot.sh" >/dev/null ;;
  esac
}

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { fetch_debian13; exit 0; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when an install is needed: a fresh image's lists may be stale.
$sudo apt-get update -qq
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fetch_debian13
