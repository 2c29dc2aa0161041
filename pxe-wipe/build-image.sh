#!/bin/bash
# Builds the diagnostic and erase boot image from Debian packages only (issue 19):
#   OUT/debian-installer/amd64/linux      Debian's signed kernel (linux-image-amd64's ABI package)
#   OUT/debian-installer/amd64/initrd.gz  busybox-static, the agent, and Debian's smartmontools,
#                  hdparm, nvme-cli, dmidecode, nwipe, diffutils with their libraries, the
#                  disk and NIC modules
#   OUT/SHA256SUMS, OUT/version.info      (the layout `garage-pxe import` reads)
# Every file comes from a .deb apt downloads from the archive the host's apt sources name
# (no other download), unpacked with dpkg -x; the initrd is packed by busybox's cpio.
# usage: build-image.sh OUT   (root is not needed; apt's lists must be up to date)
# GARAGE_PXE_DEB_CACHE=DIR keeps the downloaded .debs there; one already there is reused
# only if its SHA-256 is the one apt's lists give. GARAGE_PXE_IMAGE_CACHE=DIR: see below.
set -euo pipefail
out=${1:?usage: build-image.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/garage-pxe-wipe-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/debs" "$work/tree" "$work/root"

tools=(busybox-static smartmontools hdparm nvme-cli dmidecode nwipe diffutils)
# The tools and every library they depend on (virtual packages, in <>, are provided by one of these).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    "${tools[@]}" | grep -v '^ ' | grep -v '^<' | sort -u)
kernel=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel" ] || { echo "build-image: linux-image-amd64 names no kernel package" >&2; exit 1; }
uris=$(apt-get download --print-uris $closure "$kernel" 2>/dev/null | tr -d "'")
# GARAGE_PXE_IMAGE_CACHE=DIR: an image built earlier from the same packages (apt's SHA-256s)
# and the same pxe-wipe files is copied from there (its own SHA256SUMS checked) instead of
# unpacked and packed again; a new package version or a changed agent builds a new one.
cached=
if [ -n "${GARAGE_PXE_IMAGE_CACHE:-}" ]; then
    key=$({ printf '%s\n' "$uris" | awk '{ print $2, $4 }' | sort; cat "$here"/build-image.sh "$here"/init.sh \
        "$here"/garage-pxe-agent.sh "$here"/udhcpc.script; } | sha256sum | cut -c1-24)
    cached=$GARAGE_PXE_IMAGE_CACHE/$key
    if [ -f "$cached/SHA256SUMS" ] && (cd "$cached" && sha256sum -c --status SHA256SUMS); then
        cp -r "$cached"/. "$out"/
        echo "build-image: reused $cached (same packages, same pxe-wipe files)"
        exit 0
    fi
fi
cache=${GARAGE_PXE_DEB_CACHE:-$work/debs}
mkdir -p "$cache"
missing=()
while read -r url file size hash; do
    if [ -f "$cache/$file" ] && echo "${hash#SHA256:}  $cache/$file" | sha256sum -c --status; then
        ln -sf "$cache/$file" "$work/debs/$file" 2>/dev/null || true
    else
        missing+=("$(basename "$(echo "$file" | cut -d_ -f1)")")
    fi
done <<<"$uris"
if [ ${#missing[@]} -gt 0 ]; then
    (cd "$cache" && apt-get download -q "${missing[@]}" >"$work/download.log" 2>&1) || { cat "$work/download.log" >&2; exit 1; }
fi
[ "$cache" = "$work/debs" ] || for deb in "$cache"/*.deb; do ln -sf "$deb" "$work/debs/"; done
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/tree"; done
version=${kernel#linux-image-}

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,proc,sys,dev,tmp,run,etc,usr/share/udhcpc}
cp "$work/tree/bin/busybox" "$root/bin/busybox"
# Debian's tools first, so busybox's applet of the same name (cmp) never shadows one.
for tool in usr/sbin/smartctl sbin/hdparm usr/sbin/nvme usr/sbin/dmidecode usr/sbin/nwipe usr/bin/cmp; do
    src=$work/tree/$tool
    [ -e "$src" ] || src=$work/tree/usr/$tool
    [ -e "$src" ] || { echo "build-image: $tool not in the packages" >&2; exit 1; }
    cp "$src" "$root/bin/$(basename "$tool")"
done
for applet in $("$root/bin/busybox" --list); do [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"; done
# Shared libraries of the closure (only the .so files: no perl, no docs).
find "$work/tree/lib/x86_64-linux-gnu" "$work/tree/usr/lib/x86_64-linux-gnu" -maxdepth 1 -name '*.so*' \
    -exec cp -a {} "$root/lib/x86_64-linux-gnu/" \; 2>/dev/null
cp -a "$work/tree/lib64/ld-linux-x86-64.so.2" "$root/lib64/" 2>/dev/null \
    || ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
# Kernel modules: storage (SATA/AHCI, NVMe, SCSI disks, USB storage) and wired NICs, with
# what they stack on: kernel/block (t10-pi, which sd_mod and nvme-core need) and the
# virtio bus (virtio_pci, under virtio_net and virtio_scsi in virtual machines).
moddir=lib/modules/$version
mkdir -p "$root/$moddir"
(cd "$work/tree/$moddir" && find kernel/drivers/ata kernel/drivers/nvme kernel/drivers/scsi kernel/drivers/usb \
    kernel/drivers/net/ethernet kernel/drivers/net/virtio_net.ko kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
    kernel/drivers/block kernel/drivers/virtio kernel/block kernel/lib kernel/crypto -name '*.ko*' 2>/dev/null | xargs -I{} cp --parents {} "$root/$moddir/")
cp "$work/tree/$moddir"/modules.{order,builtin} "$root/$moddir/" 2>/dev/null || true
"$root/bin/busybox" depmod -b "$root" "$version"
cp "$here/garage-pxe-agent.sh" "$root/usr/bin/garage-pxe-agent"
cp "$here/init.sh" "$root/init"
cp "$here/udhcpc.script" "$root/usr/share/udhcpc/default.script"
chmod 755 "$root/init" "$root/usr/bin/garage-pxe-agent" "$root/usr/share/udhcpc/default.script"

image=$out/debian-installer/amd64
mkdir -p "$image"
(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9 >"$image/initrd.gz")
cp "$work/tree/boot/vmlinuz-$version" "$image/linux"
(cd "$out" && sha256sum debian-installer/amd64/linux debian-installer/amd64/initrd.gz >SHA256SUMS)
kernel_version=$(dpkg-deb -f "$work"/debs/"$kernel"_*.deb Version)
printf 'Debian version:  12 (bookworm)\nInstaller build: garage-pxe-diagnostic %s %s\n' "$kernel" "$kernel_version" >"$out/version.info"
if [ -n "$cached" ]; then
    mkdir -p "$GARAGE_PXE_IMAGE_CACHE"
    # Two builds at once each write their own copy; the last rename wins (same content).
    rm -rf "$cached.$$" && cp -r "$out" "$cached.$$" && rm -rf "$cached" && mv -T "$cached.$$" "$cached" || rm -rf "$cached.$$"
fi
echo "build-image: $image/linux ($kernel $kernel_version), $image/initrd.gz ($(du -h "$image/initrd.gz" | cut -f1)), from $(ls "$work/debs" | wc -l) packages"
