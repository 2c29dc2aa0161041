#!/bin/bash
# Builds the diagnostic and erase boot image from Debian packages only (issue 19):
#   OUT/debian-installer/amd64/linux      Debian's signed kernel (linux-image-amd64's ABI package)
#   OUT/debian-installer/amd64/initrd.gz  busybox-static, the agent, and Debian's smartmontools,
#                  hdparm, nvme-cli, dmidecode, nwipe, diffutils with the libraries they load,
#                  the disk, NIC and keyboard modules with the modules they need
#   OUT/SHA256SUMS, OUT/version.info      (the layout `garage-pxe import` reads)
# Every file comes from a .deb apt downloads from the archive the host's apt sources name
# (no other download), unpacked with dpkg -x; the initrd is packed by busybox's cpio.
# usage: build-image.sh OUT   (root is not needed; apt's lists must be up to date)
# GARAGE_PXE_DEB_CACHE=DIR keeps the downloaded .debs there; one already there is reused
# only if its SHA-256 is the one apt's lists give. GARAGE_PXE_IMAGE_CACHE=DIR: see below.
# Either cache holds only what the latest build used: after a build (or a reuse), the .debs
# of other package versions and the images built from other packages or pxe-wipe files are
# removed (only what a build put there: *.deb files, and image folders named by their key).
# Builds sharing a cache take turns (flock). A build folder a killed build left in TMPDIR
# is removed after a day.
set -euo pipefail
out=${1:?usage: build-image.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
tmp=${TMPDIR:-/tmp}
# (this script's build folders, and `garage-pxe import wipe`'s output folders)
find "$tmp" -maxdepth 1 \( -name 'garage-pxe-wipe-image.??????' -o -name 'garage-pxe-wipe-????????-????-????-????-????????????' \) \
    -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
work=$(mktemp -d "$tmp/garage-pxe-wipe-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/debs" "$work/tree" "$work/root"

# One build at a time per cache (bounded: an hour); a cache that cannot be made is not used.
lock=9
for var in GARAGE_PXE_DEB_CACHE GARAGE_PXE_IMAGE_CACHE; do
    dir=${!var:-}
    [ -n "$dir" ] || continue
    if ! mkdir -p "$dir" 2>/dev/null || ! eval "exec $lock>>\"\$dir/.lock\"" 2>/dev/null; then
        echo "build-image: warning: cannot use $dir as a cache ($var): building without it" >&2
        unset "$var"; continue
    fi
    flock -w 3600 "$lock" || { echo "build-image: $dir is locked by another build for an hour" >&2; exit 1; }
    lock=$((lock - 1))
done

tools=(busybox-static smartmontools hdparm nvme-cli dmidecode nwipe diffutils)
# The tools and every library they depend on (virtual packages, in <>, are provided by one of these).
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
    "${tools[@]}" | grep -v '^ ' | grep -v '^<' | sort -u)
kernel=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kernel" ] || { echo "build-image: linux-image-amd64 names no kernel package" >&2; exit 1; }
uris=$(apt-get download --print-uris $closure "$kernel" 2>/dev/null | tr -d "'")

# Removes from a cache what this build did not use: prune_debs, prune_images KEY.
prune_debs() {
    [ -n "${GARAGE_PXE_DEB_CACHE:-}" ] || return 0
    local deb
    for deb in "$GARAGE_PXE_DEB_CACHE"/*.deb; do
        [ -f "$deb" ] || continue
        awk -v f="${deb##*/}" '$2 == f { found = 1 } END { exit !found }' <<<"$uris" || rm -f -- "$deb"
    done
}
prune_images() {
    [ -n "${GARAGE_PXE_IMAGE_CACHE:-}" ] || return 0
    local dir
    for dir in "$GARAGE_PXE_IMAGE_CACHE"/*; do
        [[ "${dir##*/}" =~ ^[0-9a-f]{24}(\.[0-9]+)?$ && "${dir##*/}" != "$1" ]] && rm -rf -- "$dir"
    done
    return 0
}

# GARAGE_PXE_IMAGE_CACHE=DIR: an image built earlier from the same packages (apt's SHA-256s)
# and the same pxe-wipe files is copied from there (its own SHA256SUMS checked) instead of
# unpacked and packed again; a new package version or a changed agent builds a new one.
cached= key=
if [ -n "${GARAGE_PXE_IMAGE_CACHE:-}" ]; then
    key=$({ printf '%s\n' "$uris" | awk '{ print $2, $4 }' | sort; cat "$here"/build-image.sh "$here"/init.sh \
        "$here"/garage-pxe-agent.sh "$here"/udhcpc.script; } | sha256sum | cut -c1-24)
    cached=$GARAGE_PXE_IMAGE_CACHE/$key
    if [ -f "$cached/SHA256SUMS" ] && (cd "$cached" && sha256sum -c --status SHA256SUMS); then
        cp -r "$cached"/. "$out"/
        prune_debs; prune_images "$key"
        echo "build-image: reused $cached (same packages, same pxe-wipe files)"
        exit 0
    fi
fi
cache=${GARAGE_PXE_DEB_CACHE:-$work/debs}
missing=()
while read -r url file size hash; do
    [ -f "$cache/$file" ] && echo "${hash#SHA256:}  $cache/$file" | sha256sum -c --status || missing+=("${file%%_*}")
done <<<"$uris"
if [ ${#missing[@]} -gt 0 ]; then
    (cd "$cache" && apt-get download -q "${missing[@]}" >"$work/download.log" 2>&1) || { cat "$work/download.log" >&2; exit 1; }
fi
prune_debs
# Exactly the packages of this build, each checked against apt's SHA-256.
while read -r url file size hash; do
    echo "${hash#SHA256:}  $cache/$file" | sha256sum -c --status || { echo "build-image: $file: not the package apt's lists name" >&2; exit 1; }
    [ "$cache" = "$work/debs" ] || ln -s "$cache/$file" "$work/debs/$file"
done <<<"$uris"
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
# The shared libraries the tools load, found by the packages' own dynamic loader in the
# packages' folders only (a library only the host has stops the build): no perl, no
# library of a package the tools do not link with.
libdirs=$work/tree/lib/x86_64-linux-gnu:$work/tree/usr/lib/x86_64-linux-gnu
loader=$work/tree/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
[ -e "$loader" ] || loader=$work/tree/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
for tool in smartctl hdparm nvme dmidecode nwipe cmp; do
    "$loader" --library-path "$libdirs" --list "$root/bin/$tool" || { echo "build-image: $tool: its libraries cannot be resolved" >&2; exit 1; }
done | awk '$2 == "=>" && $1 !~ /^\// { print $1, $3 }' | sort -u >"$work/libraries"
while read -r soname path; do
    case $path in "$work/tree/"*) cp -L "$path" "$root/lib/x86_64-linux-gnu/$soname" ;;
        *) echo "build-image: $soname is not in the packages ($path)" >&2; exit 1 ;; esac
done <"$work/libraries"
cp -L "$loader" "$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
# Kernel modules: storage (SATA/AHCI and IDE, NVMe, SCSI disks and the SAS/RAID controllers
# of workstations, USB storage, virtio, eMMC and SD cards on SDHCI controllers: the soldered
# storage of cheap laptops and tablets, PCI or ACPI-enumerated), wired NICs (PCI and USB), USB keyboards (the
# countdown's cancel key), then every module these need (the kernel's own modules.dep,
# made by busybox depmod over the whole package): PTP under Intel's NICs, PHY drivers under
# Realtek's, t10-pi under sd_mod and nvme-core... Left out: server-only families (Fibre
# Channel and iSCSI adapters, 10-400 Gb/s data-centre NICs, NVMe over fabrics), USB gadget,
# serial and the rest of the kernel's 4 000 modules.
moddir=lib/modules/$version
"$root/bin/busybox" depmod -b "$work/tree" "$version"
server_only='^kernel/drivers/(scsi/(qla2xxx|qla4xxx|lpfc|bfa|bnx2fc|bnx2i|be2iscsi|csiostor|cxgbi|qedf|qedi|fnic|snic|fcoe|libfc|elx|ibmvscsi_tgt|mpi3mr|megaraid/megaraid_mbox|pcmcia)/|net/ethernet/(mellanox|chelsio|qlogic|cavium|huawei|netronome|pensando|amazon|google|microsoft|cisco|emulex|sfc|fungible|marvell/(octeontx2|prestera|mvpp2)|broadcom/bnxt|intel/(ice|i40e|iavf|ixgbe|ixgbevf|fm10k|idpf)|mscc|brocade|wangxun|engleder|neterion|myricom|amd/xgbe)/|nvme/(target|host/nvme-(fabrics|fc|rdma|tcp)))'
(cd "$work/tree/$moddir" && find kernel/drivers/ata kernel/drivers/nvme/host kernel/drivers/scsi kernel/drivers/usb/host \
    kernel/drivers/usb/storage kernel/drivers/mmc/core/mmc_block.ko kernel/drivers/mmc/host/sdhci.ko \
    kernel/drivers/mmc/host/sdhci-pci.ko kernel/drivers/mmc/host/sdhci-acpi.ko kernel/drivers/net/ethernet kernel/drivers/net/usb kernel/drivers/net/virtio_net.ko \
    kernel/drivers/block/virtio_blk.ko kernel/drivers/virtio kernel/drivers/hid/usbhid kernel/drivers/hid/hid.ko \
    kernel/drivers/hid/hid-generic.ko -name '*.ko*' 2>/dev/null) | grep -Ev "$server_only" >"$work/modules.wanted"
# The wanted modules and, recursively, what modules.dep says each needs.
awk 'NR == FNR { sub(/:$/, "", $1); dep[$1] = $0; next }
     { todo[++n] = $1 }
     END { for (i = 1; i <= n; i++) { m = todo[i]; if (m in seen || !(m in dep)) continue; seen[m] = 1; print m
             k = split(dep[m], d, " "); for (j = 2; j <= k; j++) todo[++n] = d[j] } }' \
    "$work/tree/$moddir/modules.dep" "$work/modules.wanted" >"$work/modules.used"
mkdir -p "$root/$moddir"
(cd "$work/tree/$moddir" && xargs -I{} cp --parents {} "$root/$moddir/" <"$work/modules.used")
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
    # Copied under a temporary name, renamed once complete.
    rm -rf "$cached.$$" && cp -r "$out" "$cached.$$" && rm -rf "$cached" && mv -T "$cached.$$" "$cached" || rm -rf "$cached.$$"
    prune_images "$key"
fi
echo "build-image: $image/linux ($kernel $kernel_version), $image/initrd.gz ($(du -h "$image/initrd.gz" | cut -f1)), from $(ls "$work/debs" | wc -l) packages"
