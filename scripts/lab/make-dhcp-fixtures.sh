#!/usr/bin/env bash
# Regenerate the golden DHCP/PXE captures in Tests/Fixtures/dhcp/.
#
# Why a script: the fixtures must be reproducible, and their README documents
# exactly these steps. It builds a throw-away lab, runs the reference proxy
# (dnsmasq proxyDHCP), boots real firmware under QEMU and keeps only the
# DHCP/PXE packets (UDP 67/68/4011) seen by the server's interface.
#
# Usage: make-dhcp-fixtures.sh [OUTDIR] [SCENARIO...]
#   OUTDIR     default: Tests/Fixtures/dhcp (relative to the repo root)
#   SCENARIO   bios | uefi | undionly | uefi-opt43-bypass | uefi-file-no43
#              (default: all five, one VM at a time, ~3 minutes in total)
# Outputs:
#   bios     -> seabios-ipxe-rom.pcap
#   uefi     -> ovmf-edk2-pxe.pcap + ipxe-efi-second-stage.pcap (one boot, split
#               at the first DISCOVER with a new transaction id)
#   undionly -> undionly-second-stage.pcap (iPXE ROM chains undionly.kpxe over
#               TFTP; only the packets of undionly's own DHCP are kept)
#   uefi-opt43-bypass -> ovmf-edk2-opt43-bypass.pcap: OVMF + iPXE answered by
#               pxe-responder.py (not dnsmasq) with option 43 = 06 01 08 ff
#               and the boot file in the proxy OFFER; TFTP RRQs kept (port 69)
#   uefi-file-no43 -> ovmf-edk2-file-no43.pcap: same, but no option 43 (boot
#               file and siaddr in the OFFER, :4011 answered too)
# Raw captures and serial logs stay in $OUTDIR/.raw-<scenario>/ only if
# KEEP_RAW=1 (handy when writing the README), otherwise they are deleted.
# Environment: FIX_PREFIX (lab prefix, default "fx").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
require_root

OUT="${1:-$REPO/Tests/Fixtures/dhcp}"
shift || true
SCENARIOS=("$@")
[[ ${#SCENARIOS[@]} -gt 0 ]] || SCENARIOS=(bios uefi undionly uefi-opt43-bypass uefi-file-no43)
P="${FIX_PREFIX:-fx}"
lab_set_names "$P"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
DHCP_FILTER='udp port 67 or udp port 68 or udp port 4011'
# display filter equivalent, used when splitting with tshark
DHCP_DFILTER='udp.port == 67 || udp.port == 68 || udp.port == 4011'

cleanup() { LAB_KEEP_RUN_DIR=0 "$HERE/lab.sh" down "$P" || true; }
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

"$HERE/lab.sh" down "$P" 2>/dev/null || true
"$HERE/lab.sh" up "$P" >/dev/null

# frame number of the first DISCOVER whose xid differs from the first one's
first_new_xid_frame() {
  tshark -r "$1" -Y 'dhcp.option.dhcp == 1' -T fields -e frame.number -e dhcp.id 2>/dev/null |
    awk 'NR == 1 { x = $2; next } $2 != x { print $1; exit }'
}

# keep frames [from, to) of a capture as classic pcap
slice() { # IN OUT FROM TO(exclusive, 0 = end)
  local f="frame.number >= $3"
  [[ "$4" != 0 ]] && f="$f && frame.number < $4"
  tshark -r "$1" -Y "($DHCP_DFILTER) && $f" -F pcap -w "$2" 2>/dev/null
}

run_vm() { # NAME MODE SECONDS UNTIL_REGEX UNTIL_COUNT RAWDIR
  local raw="$6/capture.pcap" rc=0
  "$HERE/capture.sh" "$P" start "$raw"
  VM_UNTIL_FILE="$RUN_DIR/ref-http.log" VM_UNTIL_REGEX="$4" VM_UNTIL_COUNT="$5" \
    "$HERE/boot-vm.sh" "$P" "$1" "$2" "$3" >/dev/null || rc=$?
  sleep 1 # let the last answers reach the capture
  "$HERE/capture.sh" "$P" stop "$raw"
  cp "$RUN_DIR/vm-$1.serial.log" "$6/serial.log" 2>/dev/null || true
  cp "$RUN_DIR/ref-dnsmasq.log" "$6/ref-dnsmasq.log" 2>/dev/null || true
  [[ $rc == 0 ]] || log "warning: vm $1 ended with rc=$rc (no '$4' x$5 in time)"
  return 0
}

start_proxy() { # [BOOT_SCRIPT] [MODE]
  stop_responder
  "$HERE/reference-proxy.sh" "$P" stop 2>/dev/null || true
  : >"$RUN_DIR/ref-http.log" 2>/dev/null || true
  REF_BOOT_SCRIPT="${1:-}" REF_MODE="${2:-proxy}" "$HERE/reference-proxy.sh" "$P" start
}

# pxe-responder.py as the proxyDHCP, dnsmasq only for TFTP (+ python HTTP)
start_responder() { # responder args...
  start_proxy "" tftp-only
  ip netns exec "$NS_SRV" setsid "${PYTHON:-/usr/bin/python3}" -u "$HERE/pxe-responder.py" \
    --iface "$LAB_SRV_IF" --server "$LAB_SRV_ADDR" \
    --ipxe-file "http://$LAB_SRV_ADDR:$LAB_HTTP_PORT/boot.ipxe" \
    --pidfile "$RUN_DIR/responder.pid" "$@" \
    </dev/null >"$RUN_DIR/responder.log" 2>&1 &
  echo $! >"$RUN_DIR/responder.pid"
  wait_pid_ours "$RUN_DIR/responder.pid" 5 || die "pxe-responder.py did not start"
  wait_for_udp_port "$NS_SRV" 4011 5 || die "pxe-responder.py did not start"
}
stop_responder() { stop_pidfile "$RUN_DIR/responder.pid" TERM 3; }

for sc in "${SCENARIOS[@]}"; do
  raw="$OUT/.raw-$sc"
  rm -rf "$raw"
  mkdir -p "$raw"
  case "$sc" in
    bios)
      start_proxy
      export CAPTURE_FILTER="$DHCP_FILTER"
      # ROM DHCP -> proxy offer -> (15 s iPXE IPv6 wait) -> :4011 -> GET boot.ipxe
      run_vm fxbios bios 90 'GET /boot.ipxe' 1 "$raw"
      slice "$raw/capture.pcap" "$OUT/seabios-ipxe-rom.pcap" 1 0
      ;;
    uefi)
      start_proxy
      export CAPTURE_FILTER="$DHCP_FILTER"
      # EDK2 DHCP -> :4011 -> TFTP ipxe.efi -> iPXE DHCP -> :4011 -> GET boot.ipxe
      run_vm fxuefi uefi 150 'GET /boot.ipxe' 1 "$raw"
      n="$(first_new_xid_frame "$raw/capture.pcap")"
      [[ -n "$n" ]] || die "uefi: no second-stage DISCOVER found"
      slice "$raw/capture.pcap" "$OUT/ovmf-edk2-pxe.pcap" 1 "$n"
      slice "$raw/capture.pcap" "$OUT/ipxe-efi-second-stage.pcap" "$n" 0
      ;;
    undionly)
      # The iPXE ROM gets a script that chains undionly.kpxe over TFTP; the
      # undionly instance then runs its own DHCP (over the ROM's PXE API).
      # Both have user class iPXE, so undionly gets the same script and
      # would loop: stop at the second GET of boot.ipxe.
      cat >"$raw/chain-undionly.ipxe" <<EOF
#!ipxe
echo garage-pxe-lab-ok chaining undionly.kpxe
chain tftp://$LAB_SRV_ADDR/undionly.kpxe
EOF
      start_proxy "$raw/chain-undionly.ipxe"
      export CAPTURE_FILTER="$DHCP_FILTER"
      run_vm fxundi bios 120 'GET /boot.ipxe' 2 "$raw"
      n="$(first_new_xid_frame "$raw/capture.pcap")"
      [[ -n "$n" ]] || die "undionly: no second-stage DISCOVER found"
      slice "$raw/capture.pcap" "$OUT/undionly-second-stage.pcap" "$n" 0
      ;;
    uefi-opt43-bypass | uefi-file-no43)
      if [[ "$sc" == uefi-opt43-bypass ]]; then
        start_responder --opt43 060108ff --offer-file ipxe.efi --ack-file ipxe.efi --offer-sname
        outname=ovmf-edk2-opt43-bypass.pcap
      else
        start_responder --opt43 none --offer-file ipxe.efi --ack-file ipxe.efi --offer-sname
        outname=ovmf-edk2-file-no43.pcap
      fi
      # also keep TFTP read requests (:69) to show where the client went
      export CAPTURE_FILTER="$DHCP_FILTER or udp port 69"
      run_vm fxefi2 uefi 150 'GET /boot.ipxe' 1 "$raw"
      cp "$RUN_DIR/responder.log" "$raw/responder.log"
      tshark -r "$raw/capture.pcap" -Y "($DHCP_DFILTER) || tftp.opcode == 1" -F pcap \
        -w "$OUT/$outname" 2>/dev/null
      stop_responder
      ;;
    *) die "unknown scenario $sc" ;;
  esac
  [[ "${KEEP_RAW:-0}" == 1 ]] || rm -rf "$raw"
done
"$HERE/reference-proxy.sh" "$P" stop
ls -l "$OUT"/*.pcap
