#!/bin/sh
# garage-pxe diagnostic and erase agent: runs in the diagnostic boot environment (busybox
# sh, Debian's util-linux, smartmontools, hdparm, nvme-cli, dmidecode) on a PC booted from
# the bench. It inventories the PC and reports it; with garage_pxe.mode=erase it then, after
# a countdown any key cancels, erases every disk with the strongest method the disk
# supports, reads the WHOLE disk back to check it, and reports each disk with the method
# used and, when it is not the drive's own erase, why (what the drive or the tool said). A disk that cannot
# be written, or whose read-back is not what the method leaves, is reported failed, never
# wiped: the server's certificate then says NOT erased.
#
# Kernel command line (what the server's menu entry puts there):
#   garage_pxe.server=http://SERVER:PORT  garage_pxe.mac=MAC  garage_pxe.token=TOKEN
#   garage_pxe.mode=diagnostic|erase       garage_pxe.countdown=SECONDS (default 30)
# For tests: GARAGE_PXE_CMDLINE (a file instead of /proc/cmdline) and GARAGE_PXE_DISKS (the
# exact block devices to use, instead of every disk under /sys/block).
# `garage-pxe-agent verify DEVICE [OCTAL]` only reads a disk back (see the end).
set -u

CMDLINE=${GARAGE_PXE_CMDLINE:-/proc/cmdline}
arg() {
    for word in $(cat "$CMDLINE"); do
        case $word in "$1"=*) echo "${word#*=}"; return 0 ;; esac
    done
    echo "${2:-}"
}
SERVER=$(arg garage_pxe.server)
MAC=$(arg garage_pxe.mac)
TOKEN=$(arg garage_pxe.token)
MODE=$(arg garage_pxe.mode diagnostic)
COUNTDOWN=$(arg garage_pxe.countdown 30)
WORK=$(mktemp -d /tmp/garage-pxe-agent.XXXXXX)
# A stopped agent (a test's timeout) leaves no read-back tmpfs mounted (all_bytes_are).
trap 'umount -l "$WORK/zeros" 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 143' TERM INT HUP

say() { echo "garage-pxe: $*" >&2; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# Seconds since boot with centiseconds (busybox date has no %N): for the throughput lines.
uptime_s() { cut -d' ' -f1 /proc/uptime; }
first_line() { [ -r "$1" ] && head -n 1 "$1" | tr -d '\000-\037\177' | sed 's/^ *//; s/ *$//'; }

# A JSON string: control characters dropped, backslash and quote escaped, at most 120
# bytes (the server refuses names over 128), or MAX (reasons: the server takes 1024).
js() {
    printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037\177' | cut -c1-"${2:-120}" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}
num() { case $1 in '' | *[!0-9]*) echo null ;; *) echo "$1" ;; esac; }

post() { # post KIND FILE: the report, with this boot's token
    wget -q -O - --header 'Content-Type: application/json' --post-file "$2" \
        "$SERVER/report/$1?mac=$MAC&token=$TOKEN" >/dev/null 2>"$WORK/post.err" && return 0
    say "report $1 refused or lost: $(cat "$WORK/post.err")"
    return 1
}

# The disks: block devices only. An empty /sys/block leaves its pattern unexpanded, and a
# word from here is never expanded again (set -f around every use): nothing but a block
# device listed by the kernel is ever opened for writing. An eMMC's two hardware boot
# partitions (mmcblkNboot0/1, a few MiB of firmware space the OS does not use for files,
# write-protected by the kernel: force_ro) and its RPMB are not disks of their own: they are
# never erased, and the eMMC's report says so (emmc_note).
disks() {
    set +f # a $(disks) subshell: the caller's set -f stays
    if [ -n "${GARAGE_PXE_DISKS:-}" ]; then
        for dev in $GARAGE_PXE_DISKS; do [ -b "$dev" ] && echo "$dev"; done
        return
    fi
    for path in /sys/block/*; do
        [ -d "$path" ] || continue
        name=${path##*/}
        case $name in loop* | ram* | sr* | zram* | dm-* | md* | fd* | nbd* | mmcblk*boot* | mmcblk*rpmb) continue ;; esac
        [ -b "/dev/$name" ] && echo "/dev/$name"
    done
}

sysblock() { echo "/sys/block/${1##*/}"; }

disk_serial() { # the drive's own serial; a loop device is known by its backing file
    dev=$1 sys=$(sysblock "$1")
    serial=$(first_line "$sys/device/serial")
    [ -z "$serial" ] && serial=$(smartctl -i "$dev" 2>/dev/null | sed -n 's/^Serial [Nn]umber: *//p' | head -n 1)
    [ -z "$serial" ] && serial=$(hdparm -I "$dev" 2>/dev/null | sed -n 's/^[[:space:]]*Serial Number:[[:space:]]*//p' | head -n 1)
    [ -z "$serial" ] && [ -r "$sys/loop/backing_file" ] && serial=$(basename "$(first_line "$sys/loop/backing_file")")
    [ -z "$serial" ] && serial="unknown-${dev##*/}"
    echo "$serial"
}

disk_transport() {
    name=${1##*/}
    case $name in nvme*) echo nvme; return ;; esac
    # An MMC card says what it is: MMC (eMMC, soldered) or SD (a card in a reader).
    case $name in mmcblk*) case $(first_line "$(sysblock "$1")/device/type") in MMC) echo emmc ;; SD) echo sd ;; *) echo other ;; esac; return ;; esac
    case $(readlink -f "$(sysblock "$1")") in *usb*) echo usb ;; */ata*) echo sata ;; *) echo other ;; esac
}

disk_model() { # ATA/SCSI/NVMe: device/model; an MMC card: its product name
    model=$(first_line "$(sysblock "$1")/device/model")
    [ -z "$model" ] && model=$(first_line "$(sysblock "$1")/device/name")
    echo "$model"
}

# An eMMC's own wear estimate (JEDEC EXT_CSD): life_time is two levels 0x01-0x0B (tenths
# of the rated life used, 0x0B past it), pre_eol_info 0x01 normal, 0x02 warning (80 % of
# the spare blocks used), 0x03 urgent. smartctl knows no MMC.
mmc_health() {
    sys=$(sysblock "$1")/device
    set -- $(first_line "$sys/life_time")
    eol=$(first_line "$sys/pre_eol_info")
    [ -z "${1:-}" ] && [ -z "$eol" ] && { echo null; return; }
    a=$((${1:-0})) b=$((${2:-0}))
    [ $b -gt $a ] && a=$b
    used=null
    [ $a -ge 1 ] && used=$(((a - 1) * 10))
    case $eol in 0x01 | 0x02) overall=passed ;; 0x03) overall=failed ;; *) overall=unknown ;; esac
    printf '{"overall":"%s","powerOnHours":null,"reallocatedSectors":null,"pendingSectors":null,"percentageUsed":%s}' "$overall" "$used"
}

disk_health() { # SMART (ATA), the NVMe health log or an eMMC's wear estimate, as JSON, or null
    case ${1##*/} in mmcblk*) mmc_health "$1"; return ;; esac
    out=$(smartctl -H -A "$1" 2>/dev/null) || [ -n "$out" ] || { echo null; return; }
    case $out in
        *"test result: PASSED"* | *"Health Status: OK"*) overall=passed ;;
        *"test result: FAILED"* | *"Health Status: FAIL"*) overall=failed ;;
        *) overall=unknown ;;
    esac
    attr() { printf '%s\n' "$out" | awk -v n="$1" '$2 == n { print $10; exit }'; }
    hours=$(attr Power_On_Hours)
    [ -z "$hours" ] && hours=$(printf '%s\n' "$out" | sed -n 's/^Power On Hours: *//p' | tr -d ', ')
    used=$(printf '%s\n' "$out" | sed -n 's/^Percentage Used: *//p' | tr -d '% ')
    printf '{"overall":"%s","powerOnHours":%s,"reallocatedSectors":%s,"pendingSectors":%s,"percentageUsed":%s}' \
        "$overall" "$(num "$hours")" "$(num "$(attr Reallocated_Sector_Ct)")" "$(num "$(attr Current_Pending_Sector)")" "$(num "$used")"
}

dmi() { # dmi KEYWORD SYSFILE
    value=$(first_line "/sys/class/dmi/id/$2")
    [ -z "$value" ] && value=$(dmidecode -s "$1" 2>/dev/null | head -n 1)
    echo "$value"
}

# Installed RAM, as "BYTES SOURCE": the sum of the SMBIOS memory devices (type 17, what is
# in the slots: `dmi`), else what the kernel sees (MemTotal, less than installed: the
# firmware and the graphics keep their share: `kernel`), the reason said on the console.
memory() {
    bytes=$(dmidecode -t 17 2>"$WORK/dmidecode.err" | awk '
        $1 == "Size:" && $2 ~ /^[0-9]+$/ && $3 ~ /^(kB|MB|GB|TB)$/ {
            s += $2 * ($3 == "kB" ? 1024 : $3 == "MB" ? 1048576 : $3 == "GB" ? 1073741824 : 1099511627776) }
        END { printf "%.0f\n", s }')
    if [ "${bytes:-0}" -gt 0 ] 2>/dev/null; then echo "$bytes dmi"; return; fi
    say "mémoire : aucun module dans la table DMI (dmidecode : $(head -n 1 "$WORK/dmidecode.err")) ; taille vue par le noyau"
    echo "$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024)) kernel"
}

inventory() {
    disk_json=
    set -f
    for dev in $(disks); do
        entry=$(printf '{"name":%s,"model":%s,"serial":%s,"sizeBytes":%s,"transport":"%s","health":%s}' \
            "$(js "${dev##*/}")" "$(js "$(disk_model "$dev")")" "$(js "$(disk_serial "$dev")")" \
            "$(num "$(blockdev --getsize64 "$dev" 2>/dev/null)")" "$(disk_transport "$dev")" "$(disk_health "$dev")")
        disk_json="${disk_json:+$disk_json,}$entry"
    done
    set +f
    nic_json=
    for path in /sys/class/net/*; do
        name=${path##*/}
        [ "$name" = lo ] && continue
        address=$(first_line "$path/address")
        case $address in ??:??:??:??:??:??) ;; *) continue ;; esac
        [ "$address" = 00:00:00:00:00:00 ] && continue
        nic_json="${nic_json:+$nic_json,}{\"name\":$(js "$name"),\"mac\":\"$address\"}"
    done
    battery=null
    for bat in /sys/class/power_supply/BAT*; do
        [ -d "$bat" ] || continue
        design=$(first_line "$bat/energy_full_design"); full=$(first_line "$bat/energy_full")
        [ -z "$design" ] && design=$(first_line "$bat/charge_full_design") && full=$(first_line "$bat/charge_full")
        [ -n "$design" ] && [ -n "$full" ] && battery="{\"designCapacity\":$(num "$design"),\"fullCapacity\":$(num "$full")}"
        break
    done
    cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n 1)
    set -- $(memory)
    say "mémoire : ${1:-?} octets (source : ${2:-kernel})"
    printf '{"machine":{"manufacturer":%s,"product":%s,"serial":%s,"uuid":%s},"cpu":{"model":%s,"cores":%s},"memoryBytes":%s,"memorySource":"%s","disks":[%s],"battery":%s,"nics":[%s]}\n' \
        "$(js "$(dmi system-manufacturer sys_vendor)")" "$(js "$(dmi system-product-name product_name)")" \
        "$(js "$(dmi system-serial-number product_serial)")" "$(js "$(dmi system-uuid product_uuid)")" \
        "$(js "$cpu")" "$(grep -c '^processor' /proc/cpuinfo)" "$(num "${1:-}")" "${2:-kernel}" "$disk_json" "$battery" "$nic_json"
}

# Reads the whole device (SIZE bytes) back and succeeds only if every byte is BYTE (octal:
# 000 after an overwrite, the drive's own fill byte after a firmware erase). When the disk
# could not be read whole (a read error: not data), $WORK/read.failed says why.
# - What is checked is the disk, not the page cache: the device is read with O_DIRECT (no
#   cached page, e.g. one left from before a drive's own erase, can answer for it), in
#   16 MiB blocks, its four quarters at once (dd | cmp pipes): a plain read keeps one 4 MiB
#   read in flight and needs no CPU; a checked one must also move and compare every byte,
#   so several large reads in flight keep the disk busy while each pipe waits for its
#   checker, and a hard disk seeks once per 16 MiB. (Reading the device through the page
#   cache instead, BLKFLSBUF then cmp on the device with a 16 MiB readahead, no pipe,
#   measured 0.15-0.57x a plain read on a shared 2-core host, these pipes 0.38-1.37x.)
# - diffutils' cmp compares with zeros word by word, in blocks of its two files'
#   st_blksize: 4 KiB for a pipe and /dev/zero, so two system calls per 4 KiB, most of the
#   check's CPU. The zeros are instead a sparse file on a private tmpfs mounted huge=always,
#   which reports 2 MiB blocks (its holes read as zeros and use no memory): cmp then reads
#   the pipe 64 KiB (all it holds) and the zeros 2 MiB at a time: the check ran at 2.4-2.8
#   GB/s instead of 1.7-1.9 on a memory-backed device. If that tmpfs cannot be mounted,
#   /dev/zero: the same result, more CPU.
# - cmp exits 1 at the first other byte and when its stream ends early (a read error ends
#   dd: the reader's failure is recorded too), 2 when it cannot read: all are a mismatch.
# - A BYTE other than 000 is swapped with 000 by tr first, so a zero left on such a disk is
#   a mismatch too (one more copy: only after a firmware erase that fills with ones).
# Without diffutils (busybox cmp has no -n), tr deletes the expected byte and anything
# left is a mismatch.
all_bytes_are() {
    dev=$1 size=$2 byte=$3
    rm -f "$WORK/read.failed"
    blocks=$(((size + 16777215) / 16777216))
    if ! cmp --version >/dev/null 2>&1; then
        [ "$(read_blocks "$dev" 0 "$blocks" | tr -d "\\$byte" | head -c 1 | wc -c)" -eq 0 ] && [ ! -e "$WORK/read.failed" ]
        return
    fi
    zeros=/dev/zero
    mkdir -p "$WORK/zeros" && mount -t tmpfs -o size=64k,huge=always garage-pxe-zeros "$WORK/zeros" 2>/dev/null \
        && truncate -s "$size" "$WORK/zeros/reference" 2>/dev/null && zeros=$WORK/zeros/reference
    [ "$zeros" = /dev/zero ] && say "$dev: no tmpfs huge=always for the reference zeros: cmp reads 4 KiB at a time"
    quarter=$(((blocks + 3) / 4)) pids= q=0
    while [ $q -lt 4 ] && [ $((q * quarter)) -lt "$blocks" ]; do
        bytes=$((size - q * quarter * 16777216))
        [ "$bytes" -gt $((quarter * 16777216)) ] && bytes=$((quarter * 16777216))
        if [ "$byte" = 000 ]; then
            read_blocks "$dev" $((q * quarter)) "$quarter" | cmp -s -n "$bytes" - "$zeros" &
        else
            read_blocks "$dev" $((q * quarter)) "$quarter" | tr "\\$byte\\000" "\\000\\$byte" | cmp -s -n "$bytes" - "$zeros" &
        fi
        pids="$pids $!" q=$((q + 1))
    done
    mismatch=0
    for pid in $pids; do
        wait "$pid"
        case $? in 0) ;; 1) mismatch=1 ;; *) mismatch=1; echo "$READ_ERROR" >"$WORK/read.failed" ;; esac
    done
    umount "$WORK/zeros" 2>/dev/null
    [ -n "$pids" ] && [ $mismatch = 0 ] && [ ! -e "$WORK/read.failed" ]
}

READ_ERROR="the disk could not be read whole (read error)"
# DEVICE FIRST COUNT: 16 MiB blocks on stdout; a failed read leaves $WORK/read.failed (dd
# killed by SIGPIPE, status > 128, only means that cmp stopped at a difference).
read_blocks() {
    dd if="$1" bs=16M skip="$2" count="$3" iflag=direct 2>/dev/null
    dd_status=$?
    [ $dd_status = 0 ] || [ $dd_status -gt 128 ] || echo "$READ_ERROR" >"$WORK/read.failed"
}

# The drive erases itself, with the strongest command it has: NVMe Sanitize (block
# erase), else NVMe Format with Secure Erase Settings 1 (user data erase), else ATA
# SECURITY ERASE UNIT when the drive is not frozen, else (eMMC) the card's secure erase
# (BLKSECDISCARD, busybox's blkdiscard -s). Sets FW_METHOD (empty when none applies: the
# caller then overwrites) and FW_WHY: why each stronger method was not used, from what the
# drive reports (NVMe identify fields, hdparm's security section) or what the command
# answered, so the report, the journal and the certificate say why an overwrite was needed.
firmware_erase() {
    FW_METHOD= FW_WHY=
    case ${1##*/} in
        nvme*) nvme_erase "$1" ;;
        mmcblk*) mmc_erase "$1" ;;
        *) case $(disk_transport "$1") in
               sata | usb) ata_erase "$1" ;; # (a USB-SATA bridge may pass ATA commands through)
               *) FW_WHY="no NVMe, ATA or eMMC erase command for this kind of disk ($(disk_transport "$1"))" ;;
           esac ;;
    esac
}

last_error() { tr -s '\n' ' ' <"$1" | sed 's/^ *//; s/ *$//' | cut -c1-200; }

# NVMe: identify controller's OACS bit 1 (Format NVM supported) and SANICAP bit 1 (Sanitize
# block erase supported). nvme-cli prints them as "oacs      : 0x12a", "sanicap   : 0".
nvme_erase() {
    dev=$1
    if ! nvme id-ctrl "$dev" >"$WORK/id-ctrl" 2>"$WORK/nvme.err"; then
        FW_WHY="nvme id-ctrl failed: $(last_error "$WORK/nvme.err")"; return
    fi
    oacs=$(sed -n 's/^oacs *: *\(0x[0-9a-fA-F]*\|[0-9]*\) *$/\1/p' "$WORK/id-ctrl" | head -n 1)
    sanicap=$(sed -n 's/^sanicap *: *\(0x[0-9a-fA-F]*\|[0-9]*\) *$/\1/p' "$WORK/id-ctrl" | head -n 1)
    if [ $((${sanicap:-0} & 2)) -ne 0 ]; then
        if nvme sanitize "$dev" --sanact=2 >/dev/null 2>"$WORK/nvme.err"; then
            # Sanitize runs in the background: wait (bounded: 2 h) for the log's status
            # (SSTAT bits 2:0: 1 or 4 done, 3 failed; 2 in progress).
            i=0
            while [ $i -lt 7200 ]; do
                sstat=$(nvme sanitize-log "$dev" 2>/dev/null | sed -n 's/.*(SSTAT) *: *\(0x[0-9a-fA-F]*\).*/\1/p' | head -n 1)
                case $((${sstat:-2} & 7)) in
                    1 | 4) FW_METHOD=nvme-sanitize; return ;;
                    3) FW_WHY="sanitize (block erase) failed (SSTAT $sstat)"; break ;;
                esac
                sleep 1; i=$((i + 1))
            done
            # Still running or failed: a format now would be refused or race it; the
            # overwrite that follows fails while it runs, and the disk is reported failed.
            [ -n "$FW_WHY" ] || FW_WHY="sanitize (block erase) not finished after 2 h"
            return
        fi
        FW_WHY="sanitize (block erase) refused: $(last_error "$WORK/nvme.err")"
    else
        FW_WHY="no sanitize block erase (SANICAP ${sanicap:-unreadable})"
    fi
    if [ $((${oacs:-0} & 2)) -eq 0 ]; then
        FW_WHY="$FW_WHY; no Format NVM (OACS ${oacs:-unreadable})"; return
    fi
    if nvme format "$dev" --ses=1 --force >/dev/null 2>"$WORK/nvme.err"; then
        FW_METHOD=nvme-format; return
    fi
    FW_WHY="$FW_WHY; format with secure erase (SES 1) refused: $(last_error "$WORK/nvme.err")"
}

# ATA: hdparm -I's "Security:" section lists "supported", "not<TAB>frozen" and the erase modes.
ata_erase() {
    dev=$1
    if ! hdparm -I "$dev" >"$WORK/hdparm" 2>"$WORK/hdparm.err"; then
        FW_WHY="not an ATA drive (hdparm -I: $(last_error "$WORK/hdparm.err"))"; return
    fi
    security=$(sed -n '/^Security:/,/^[^[:space:]]/p' "$WORK/hdparm")
    case $security in *"	supported"*) ;; *) FW_WHY="no ATA security feature set (hdparm -I)"; return ;; esac
    case $security in *"not	frozen"*) ;; *) FW_WHY="ATA security frozen by the firmware (hdparm -I): Secure Erase refused until a power cycle"; return ;; esac
    case $security in *"not	locked"*) ;; *) FW_WHY="ATA security locked by a password (hdparm -I)"; return ;; esac
    if ! hdparm --user-master u --security-set-pass garage "$dev" >/dev/null 2>"$WORK/hdparm.err"; then
        FW_WHY="ATA security password refused: $(last_error "$WORK/hdparm.err")"; return
    fi
    if hdparm --user-master u --security-erase garage "$dev" >/dev/null 2>"$WORK/hdparm.err"; then
        FW_METHOD=ata-secure-erase; return
    fi
    FW_WHY="ATA Secure Erase failed: $(last_error "$WORK/hdparm.err")"
    hdparm --user-master u --security-disable garage "$dev" >/dev/null 2>&1
}

# eMMC (or an SD card): the kernel offers the card's secure erase as BLKSECDISCARD only
# when the card has it (EXT_CSD SEC_FEATURE_SUPPORT; SD cards never do): anything else is
# refused with "Operation not supported".
mmc_erase() {
    if blkdiscard -s "$1" >/dev/null 2>"$WORK/blkdiscard.err"; then
        FW_METHOD=mmc-secure-erase; return
    fi
    FW_WHY="$(disk_transport "$1") card: secure erase refused (blkdiscard -s: $(last_error "$WORK/blkdiscard.err"))"
}

# The hardware boot partitions of an eMMC, which disks() leaves out: said in its report.
emmc_note() {
    set +f
    parts=
    for path in "$(sysblock "$1")"boot*; do
        [ -d "$path" ] || continue
        sectors=$(first_line "$path/size")
        case $sectors in '' | *[!0-9]*) sectors=0 ;; esac
        parts="${parts:+$parts, }${path##*/} ($((sectors * 512)) bytes)"
    done
    set -f
    [ -n "$parts" ] && echo "hardware boot partitions not erased (firmware space, write-protected, no user files): $parts"
}

overwrite() { # DEVICE SIZE: zeros over every sector; sets reason on failure
    t0=$(uptime_s)
    if ! dd if=/dev/zero of="$1" bs=4M oflag=direct conv=fsync 2>"$WORK/dd.err" \
        && ! grep -q 'No space left' "$WORK/dd.err"; then
        reason="overwrite failed: $(tail -n 1 "$WORK/dd.err")"
    fi
    say "write pass $1: $2 bytes from $t0 s to $(uptime_s) s (uptime)"
}

read_back() { # DEVICE SIZE BYTE: sets verification, success and reason
    t0=$(uptime_s)
    if all_bytes_are "$1" "$2" "$3"; then
        verification=verified success=true reason=
    else
        verification=mismatch success=false reason="read-back found data after $method"
        [ -s "$WORK/read.failed" ] && reason="read-back failed after $method: $(cat "$WORK/read.failed")"
    fi
    say "read-back $1: $2 bytes from $t0 s to $(uptime_s) s (uptime)"
}

erase_disk() {
    dev=$1
    [ -b "$dev" ] || { say "$dev is not a block device: left alone"; return 1; }
    serial=$(disk_serial "$dev")
    size=$(blockdev --getsize64 "$dev" 2>/dev/null || echo 0)
    model=$(disk_model "$dev")
    started=$(now) method=none passes=0 verification=not-run success=false reason= why=
    if [ "$(blockdev --getro "$dev" 2>/dev/null)" = 1 ]; then
        reason="read-only device: cannot be written"
    else
        firmware_erase "$dev"
        why=$FW_WHY
        if [ -n "$FW_METHOD" ]; then
            method=$FW_METHOD passes=1
            # What the drive leaves is its own: zeros or ones by make, a single byte value
            # (read past the page cache, which may still hold the old first sector).
            read_back "$dev" "$size" "$(dd if="$dev" bs=4096 count=1 iflag=direct 2>/dev/null | od -An -to1 -N1 | tr -d ' ')"
            if [ "$verification" != verified ]; then
                # Not one byte value (a drive may leave indeterminate data, e.g. an erase
                # done by changing its encryption key): the disk is overwritten all the same.
                why="$FW_METHOD left non-uniform data (read back whole): overwritten"
                method=overwrite verification=not-run reason=
            fi
        else
            method=overwrite
        fi
        if [ "$method" = overwrite ]; then
            passes=1
            overwrite "$dev" "$size"
            [ -z "$reason" ] && read_back "$dev" "$size" 000
        fi
        case ${dev##*/} in mmcblk*) note=$(emmc_note "$dev"); [ -n "$note" ] && why="${why:+$why; }$note" ;; esac
    fi
    printf '{"serial":%s,"model":%s,"sizeBytes":%s,"method":"%s","methodReason":%s,"passes":%s,"started":"%s","ended":"%s","verification":"%s","success":%s,"reason":%s}\n' \
        "$(js "$serial")" "$(js "$model")" "$(num "$size")" "$method" "$(js "$why" 1000)" "$passes" "$started" "$(now)" "$verification" "$success" \
        "$(js "$reason" 1000)" >"$WORK/wipe.json"
    say "disk $dev ($serial): $method${why:+ ($why)}, $verification${reason:+: $reason}"
    post wipe "$WORK/wipe.json" && [ "$success" = true ]
}

# Erase only after a countdown a key press cancels (the console is the PC's screen: the
# menu entry puts console=tty0 last). `read -n 1` takes one key without waiting for Enter
# (busybox turns the terminal's line mode off for it).
countdown() {
    i=$COUNTDOWN
    while [ "$i" -gt 0 ]; do
        printf '\rEffacement de TOUS les disques dans %3s s. Appuyez sur une touche pour annuler. ' "$i"
        if read -r -n 1 -t 1 _ 2>/dev/null </dev/console; then
            echo; say "effacement annulé"; return 1
        fi
        i=$((i - 1))
    done
    echo
    return 0
}

# nvme-cli 2.3 (bookworm) checks errno after parsing a number without clearing it first,
# and glibc's first malloc leaves EAGAIN there when the kernel's random pool is not ready
# yet (getrandom GRND_NONBLOCK): right after a network boot with no hardware RNG (QEMU, old
# PCs) every `nvme format --ses=1` / `nvme sanitize --sanact=2` then failed with "Expected
# byte argument for 'ses' but got '1'!" and the disk was overwritten instead. A blocking
# read of /dev/random waits until the pool is ready (the kernel gathers jitter entropy for
# it; bounded here).
random_ready() {
    t0=$(uptime_s)
    timeout 120 head -c 1 /dev/random >/dev/null 2>&1 || say "le générateur aléatoire du noyau n'est pas prêt après 120 s"
    say "random pool ready: waited from $t0 s to $(uptime_s) s (uptime)"
}

# `garage-pxe-agent verify DEVICE [OCTAL]`: only the read-back, of a disk erased earlier
# (from the console, and by the tests): exit 0 if every byte is OCTAL (default 000), 1 and
# what was found if not. No report, nothing written.
if [ "${1:-}" = verify ] && [ -b "${2:-}" ]; then
    if all_bytes_are "$2" "$(blockdev --getsize64 "$2")" "${3:-000}"; then say "$2: verified"; status=0
    else say "$2: mismatch $(cat "$WORK/read.failed" 2>/dev/null)"; status=1; fi
    exit $status # (the EXIT trap removes $WORK)
fi

inventory >"$WORK/inventory.json"
post inventory "$WORK/inventory.json" && say "inventaire envoyé"
status=0
if [ "$MODE" = erase ] && countdown; then
    random_ready
    set -f
    for dev in $(disks); do erase_disk "$dev" || status=1; done
    set +f
fi
rm -rf "$WORK"
exit $status
