#!/usr/bin/env bash
# Checks `make install` and the .deb without touching this machine's system: both go
# into scratch roots. Run by `make test` after `make deb`.
set -uo pipefail

cd "$(dirname "$0")/.."
deb="$(ls build/garage-pxe_*_amd64.deb 2>/dev/null | tail -1)"
scratch="$(mktemp -d /tmp/gpx-pkg.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
check() { # DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then echo "packaging: ok   $what"; passed=$((passed + 1))
  else echo "packaging: FAIL $what"; failed=$((failed + 1)); fi
}

# --- the .deb, unpacked with dpkg into an empty root (maintainer scripts need a real
# system, so --unpack: it places files and records conffiles without running postinst).
root="$scratch/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
: >"$root/var/lib/dpkg/status"
check "a .deb was built" test -f "$deb"
check "dpkg unpacks it into a fresh root" dpkg --root="$root" --force-depends --force-not-root --unpack "$deb"
for f in usr/bin/garage-pxe usr/lib/systemd/system/garage-pxe.service usr/lib/sysusers.d/garage-pxe.conf \
  usr/lib/tmpfiles.d/garage-pxe.conf usr/share/man/man8/garage-pxe.8.gz \
  usr/share/bash-completion/completions/garage-pxe usr/share/doc/garage-pxe/copyright \
  usr/share/garage-pxe/pxe-wipe/build-image.sh usr/share/garage-pxe/pxe-wipe/garage-pxe-agent.sh \
  usr/share/garage-pxe/pxe-wipe/init.sh usr/share/garage-pxe/pxe-wipe/udhcpc.script; do
  check "/$f is where the README says" test -e "$root/$f"
done
# Until postinst runs, dpkg keeps a conffile as FILE.dpkg-new; configure renames it,
# and on later upgrades it asks before replacing an edited one.
check "/etc/garage-pxe/garage-pxe.yaml is unpacked (as .dpkg-new until configured)" test -f "$root/etc/garage-pxe/garage-pxe.yaml.dpkg-new"
check "the config is a conffile" grep -qx /etc/garage-pxe/garage-pxe.yaml "$root/var/lib/dpkg/info/garage-pxe.conffiles"
check "the installed unit runs /usr/bin/garage-pxe" grep -q '^ExecStart=/usr/bin/garage-pxe serve' "$root/usr/lib/systemd/system/garage-pxe.service"
check "the installed config points at /etc and /var/lib" \
  grep -q '^  menus: /etc/garage-pxe/pxe-menus$' "$root/etc/garage-pxe/garage-pxe.yaml.dpkg-new"
check "the packaged binary runs on its own (no Swift toolchain needed)" \
  env -i LD_LIBRARY_PATH= "$root/usr/bin/garage-pxe" --help
check "Depends lists what it links" sh -c "dpkg-deb -f '$deb' Depends | grep -q libsystemd0"
check "Recommends apt-cacher-ng (installer.proxy auto)" sh -c "dpkg-deb -f '$deb' Recommends | grep -qw apt-cacher-ng"
check "lintian reports no errors or warnings" lintian --fail-on error,warning "$deb"

# --- make install into a DESTDIR, twice, with an edit in between.
dest="$scratch/dest"
check "make install DESTDIR=… places the files" \
  env DESTDIR="$dest" PREFIX=/usr MANPAGE=build/man/garage-pxe.8 bash scripts/install-tree.sh
check "  binary, unit, config" test -x "$dest/usr/bin/garage-pxe" -a -f "$dest/usr/lib/systemd/system/garage-pxe.service" -a -f "$dest/etc/garage-pxe/garage-pxe.yaml"
# As an admin's first run would: import Debian's netboot image with the installed
# binary, then validate the installed config, menus and templates against it.
check "the installed binary imports Debian's netboot image" \
  "$dest/usr/bin/garage-pxe" import debian "$(bash scripts/fetch-debian13-netboot.sh)" \
  --config "$dest/etc/garage-pxe/garage-pxe.yaml" --images "$dest/var/lib/garage-pxe/images"
check "the installed binary validates the installed config, menus and image" \
  "$dest/usr/bin/garage-pxe" check --config "$dest/etc/garage-pxe/garage-pxe.yaml" \
  --menus "$dest/etc/garage-pxe/pxe-menus" --images "$dest/var/lib/garage-pxe/images"
echo "site: edited" >>"$dest/etc/garage-pxe/garage-pxe.yaml"
check "a second install keeps the edited config and writes .dist beside it" \
  env DESTDIR="$dest" PREFIX=/usr MANPAGE=build/man/garage-pxe.8 bash scripts/install-tree.sh
check "  (edit kept)" grep -q "site: edited" "$dest/etc/garage-pxe/garage-pxe.yaml"
check "  (.dist written)" test -f "$dest/etc/garage-pxe/garage-pxe.yaml.dist"
check "make uninstall removes the program and keeps the workshop's config" \
  make -s uninstall DESTDIR="$dest" PREFIX=/usr
check "  (binary gone)" test ! -e "$dest/usr/bin/garage-pxe"
check "  (config kept)" test -f "$dest/etc/garage-pxe/garage-pxe.yaml"

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
