#!/usr/bin/env bash
# Prints the path of a cached Debian 12 root that boots under systemd-nspawn to a running
# systemd (the package test of ServiceTests installs the .deb in it), building it first
# when it is missing. Built once with debootstrap from the Debian archive the host's own
# apt uses (~300 MB downloaded, a few minutes); later runs reuse it. Each test run
# boots an overlay on top of it, so the cached root itself never changes.
#
#   scripts/systemd-container/root.sh [CACHE-DIR]   (default /var/cache/garage-pxe-tests)
#
# The root is rebuilt when its stamp is missing or names another recipe (a change to this
# file's RECIPE line), so an interrupted build never counts as a root.
set -euo pipefail

cache=${1:-/var/cache/garage-pxe-tests}
root="$cache/bookworm-systemd"
# Bump when what the root must contain changes; a root with another stamp is rebuilt.
RECIPE="bookworm minbase systemd systemd-sysv dbus apt-lists 1"

if [ -f "$root/.garage-pxe-root" ] && [ "$(cat "$root/.garage-pxe-root")" = "$RECIPE" ]; then
  echo "$root"
  exit 0
fi

# The mirror the host's apt uses (deb822 URIs: or one-line deb), so the only traffic
# off the machine goes where the host's own packages come from.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
# systemd-sysv makes systemd PID 1; dbus lets systemctl talk to it. ca-certificates is not
# needed: the archive is reached over http and apt checks its signatures.
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$tmp/root" "$mirror" >&2
cat >"$tmp/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
SOURCES
# Package lists inside the root, so `apt install ./garage-pxe_*.deb` resolves the
# package's dependencies with the container's own apt (they come from this mirror).
chroot "$tmp/root" apt-get update -qq >&2
chroot "$tmp/root" apt-get clean
# No console login prompt to wait on and no getty restarting on a missing tty.
chroot "$tmp/root" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
echo "garage-pxe-test" >"$tmp/root/etc/hostname"
echo "$RECIPE" >"$tmp/root/.garage-pxe-root"
rm -rf "$root"
mv "$tmp/root" "$root"
echo "root: built $root in $((SECONDS - start)) s" >&2
echo "$root"
