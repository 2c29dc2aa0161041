#!/usr/bin/env bash
# Builds build/garage-pxe_VERSION_amd64.deb with dpkg-deb from a staging tree made by
# scripts/install-tree.sh, then runs lintian on it.
set -euo pipefail

VERSION="$(sed -n '1s/^garage-pxe (\([^)]*\)).*/\1/p' packaging/debian/changelog)"
OUT=build
STAGE="$OUT/deb-root"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN"

DESTDIR="$STAGE" PREFIX=/usr MANPAGE="${MANPAGE:?set MANPAGE to the generated man page}" bash scripts/install-tree.sh

# Only Debian's libraries may be needed: the Swift runtime must be linked in.
if readelf -d "$STAGE/usr/bin/garage-pxe" | grep -q 'NEEDED.*libswift'; then
  echo "deb: the binary links the Swift runtime dynamically; build it with --static-swift-stdlib (make release)" >&2
  exit 1
fi
# The toolchain leaves its own library folder as RUNPATH; the Swift runtime is linked
# in statically, so the installed binary needs none.
chrpath --delete "$STAGE/usr/bin/garage-pxe" >/dev/null

# Debian packaging metadata.
install -d "$STAGE/usr/share/lintian/overrides"
install -m 0644 packaging/debian/lintian-overrides "$STAGE/usr/share/lintian/overrides/garage-pxe"
install -d "$STAGE/usr/share/doc/garage-pxe"
install -m 0644 packaging/debian/copyright "$STAGE/usr/share/doc/garage-pxe/copyright"
gzip -9n <packaging/debian/changelog >"$STAGE/usr/share/doc/garage-pxe/changelog.gz"
chmod 0644 "$STAGE/usr/share/doc/garage-pxe/changelog.gz"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$STAGE/DEBIAN/$s"; done
# Every file under /etc is a conffile: dpkg asks before replacing an admin's edit.
(cd "$STAGE" && find etc -type f | sort | sed 's|^|/|') >"$STAGE/DEBIAN/conffiles"

# Depends: what the binary links, as dpkg-shlibdeps computes it.
mkdir -p "$OUT/shlibdeps/debian"
printf 'Source: garage-pxe\n\nPackage: garage-pxe\nArchitecture: amd64\n' >"$OUT/shlibdeps/debian/control"
depends="$(cd "$OUT/shlibdeps" && dpkg-shlibdeps -O "$OLDPWD/$STAGE/usr/bin/garage-pxe" | sed -n 's/^shlibs:Depends=//p')"
[[ -n "$depends" ]] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
# systemd runs it; procps gives the unit's ExecReload its /bin/kill (a minimal Debian, a
# container root made by debootstrap, has no procps: `systemctl reload` failed with 203/EXEC).
depends="$depends, systemd, procps"
size="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DEPENDS@/$depends/" -e "s/@INSTALLED_SIZE@/$size/" \
  packaging/debian/control.in >"$STAGE/DEBIAN/control"

deb="$OUT/garage-pxe_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group --build "$STAGE" "$deb" >/dev/null
echo "deb: built $deb"
lintian --fail-on error,warning "$deb"
echo "deb: lintian reports no errors"
