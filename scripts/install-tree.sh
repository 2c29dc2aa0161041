#!/usr/bin/env bash
# Installs garage-pxe into DESTDIR/PREFIX the way Debian lays it out. Used by
# `make install` (DESTDIR empty: the live system) and `make deb` (a staging tree).
# Never overwrites an admin's configuration or menus: an existing file is kept and the
# new version is written next to it as FILE.dist.
set -euo pipefail

: "${DESTDIR:=}"
: "${PREFIX:=/usr}"
: "${BINARY:=.build/release/garage-pxe}"
: "${MANPAGE:=}"
SYSCONF="$DESTDIR/etc/garage-pxe"
LIBDIR="$DESTDIR/usr/lib"   # systemd's own locations, whatever PREFIX is
STATE="$DESTDIR/var/lib/garage-pxe"

[[ -x "$BINARY" ]] || { echo "install: $BINARY not built (make release)" >&2; exit 1; }

install -d "$DESTDIR$PREFIX/bin" "$LIBDIR/systemd/system" "$LIBDIR/sysusers.d" "$LIBDIR/tmpfiles.d" \
  "$DESTDIR$PREFIX/share/man/man8" "$DESTDIR$PREFIX/share/bash-completion/completions" \
  "$DESTDIR$PREFIX/share/doc/garage-pxe" "$SYSCONF" "$STATE/images"
install -m 0755 -s "$BINARY" "$DESTDIR$PREFIX/bin/garage-pxe"
# The unit names the binary by its installed path.
sed "s|/usr/bin/garage-pxe|$PREFIX/bin/garage-pxe|g" systemd/garage-pxe.service >"$LIBDIR/systemd/system/garage-pxe.service"
chmod 0644 "$LIBDIR/systemd/system/garage-pxe.service"
install -m 0644 systemd/garage-pxe.sysusers "$LIBDIR/sysusers.d/garage-pxe.conf"
install -m 0644 systemd/garage-pxe.tmpfiles "$LIBDIR/tmpfiles.d/garage-pxe.conf"
if [[ -f systemd/garage-pxe.catalog ]]; then
  install -d "$LIBDIR/systemd/catalog"
  install -m 0644 systemd/garage-pxe.catalog "$LIBDIR/systemd/catalog/garage-pxe.catalog"
fi
# bash-completion sources this file: no #! line.
"$BINARY" --generate-completion-script bash | sed '1{/^#!/d}' >"$DESTDIR$PREFIX/share/bash-completion/completions/garage-pxe"
chmod 0644 "$DESTDIR$PREFIX/share/bash-completion/completions/garage-pxe"
if [[ -n "$MANPAGE" ]]; then
  gzip -9n <"$MANPAGE" >"$DESTDIR$PREFIX/share/man/man8/garage-pxe.8.gz"
  chmod 0644 "$DESTDIR$PREFIX/share/man/man8/garage-pxe.8.gz"
fi
install -m 0644 README.md "$DESTDIR$PREFIX/share/doc/garage-pxe/README.md"
# The diagnostic and erase image's builder and what it puts in the image (`garage-pxe
# import wipe` runs PREFIX/share/garage-pxe/pxe-wipe/build-image.sh); all four are scripts.
install -d "$DESTDIR$PREFIX/share/garage-pxe/pxe-wipe"
for f in build-image.sh garage-pxe-agent.sh init.sh udhcpc.script; do
  install -m 0755 "pxe-wipe/$f" "$DESTDIR$PREFIX/share/garage-pxe/pxe-wipe/$f"
done

# Configuration: the repository's file with the installed paths.
keep_or_install() { # SOURCE TARGET: executable sources (post-install scripts) stay so
  local mode=0644
  [[ -x "$1" ]] && mode=0755
  if [[ -e "$2" ]] && ! cmp -s "$1" "$2"; then
    install -m "$mode" "$1" "$2.dist"
    echo "install: kept your $2 (new default written to $2.dist)"
  else
    install -m "$mode" "$1" "$2"
  fi
}
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
sed -e 's|^  menus: \.\./pxe-menus$|  menus: /etc/garage-pxe/pxe-menus|' \
    -e 's|^  images: \.\./images$|  images: /var/lib/garage-pxe/images|' config/garage-pxe.yaml >"$tmp"
keep_or_install "$tmp" "$SYSCONF/garage-pxe.yaml"
if [[ -d pxe-menus ]]; then
  while IFS= read -r -d '' f; do
    rel="${f#pxe-menus/}"
    install -d "$SYSCONF/pxe-menus/$(dirname "$rel")"
    keep_or_install "$f" "$SYSCONF/pxe-menus/$rel"
  done < <(find pxe-menus -type f -print0)
fi

# On the live system: create the user and folders, tell systemd.
if [[ -z "$DESTDIR" ]]; then
  systemd-sysusers garage-pxe.conf
  systemd-tmpfiles --create garage-pxe.conf
  [[ -d /run/systemd/system ]] && systemctl daemon-reload || true
  echo "install: done. Edit /etc/garage-pxe/garage-pxe.yaml, then: systemctl enable --now garage-pxe"
fi
