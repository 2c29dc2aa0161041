#!/usr/bin/env bash
# Obtains Debian 13 ("trixie")'s netboot installer on a Debian 12 machine and unpacks it
# into a cache folder, without installing it and without touching the host's apt sources:
# apt-get runs with a private sources list, package lists and archive cache (all under the
# cache folder), downloads the one package by name (`apt-get download`), and `dpkg -x`
# unpacks it. apt verifies the archive's signatures with the host's debian-archive-keyring.
#
# Usage: fetch-debian13-netboot.sh [CACHE_DIR]     (default: $GARAGE_PXE_CACHE, else
#        /var/cache/garage-pxe/debian-13-netboot as root, ~/.cache/garage-pxe/… otherwise)
# Prints the path of the unpacked image tree (…/usr/lib/debian-installer/images/13/amd64/text)
# on its last line. Running it again reuses what is there (nothing downloaded twice).
set -euo pipefail

default_cache=/var/cache/garage-pxe/debian-13-netboot
# Without root (make serve run by a user with sudo for the daemon only), a per-user cache.
[ "$(id -u)" -eq 0 ] || default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/garage-pxe/debian-13-netboot"
cache=${1:-${GARAGE_PXE_CACHE:-$default_cache}}
mirror=${DEBIAN13_MIRROR:-http://deb.debian.org/debian}
package=debian-installer-13-netboot-amd64
tree="$cache/root/usr/lib/debian-installer/images/13/amd64/text"

if [ -f "$tree/debian-installer/amd64/linux" ] && [ -f "$cache/root/.complete" ]; then
  echo "$tree"
  exit 0
fi

mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial" "$cache/apt/etc"
# The host's own keyring, used read-only: trixie is signed by the same archive keys.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$cache/apt/etc/trixie.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring
SOURCES

apt_private=(
  -o Dir::Etc::SourceList="$cache/apt/etc/trixie.sources"
  -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$cache/apt/lists"
  -o Dir::Cache::Archives="$cache/apt/archives"
  -o Dir::Cache::pkgcache="" -o Dir::Cache::srcpkgcache=""
  -o APT::Architecture=amd64 -o APT::Architectures::=amd64
  -o Acquire::Languages=none
  # The download lands in a root-owned cache: no hand-over to the _apt user.
  -o APT::Sandbox::User=root
)
# A .sources file named through Dir::Etc::SourceList is read in deb822 form from apt 2.x on
# only when it ends in .sources, which it does.
apt-get -q "${apt_private[@]}" update >&2
( cd "$cache/apt/archives" && apt-get -q "${apt_private[@]}" download "$package" >&2 )
deb=$(ls -t "$cache"/apt/archives/${package}_*.deb | head -n 1)
rm -rf "$cache/root"
mkdir -p "$cache/root"
dpkg -x "$deb" "$cache/root"
[ -f "$tree/debian-installer/amd64/linux" ] || { echo "unpacked $deb has no $tree" >&2; exit 1; }
dpkg-deb -f "$deb" Version >"$cache/root/.version"
touch "$cache/root/.complete"
echo "$tree"
