# shellcheck shell=bash
# Shared helpers for the full-chain end-to-end scripts (sourced, not executed):
# a bench LAN (scripts/lab), garage-pxe serving the repository's config with a test copy
# of the shipped menus, its events in a private systemd-journald (scripts/e2e/journal-serve.sh),
# virtual PCs, and the checks on what each PC did.
#
# Where the evidence comes from: ONE function, pc_events MAC, prints every event of one
# PC as "EVENT key=value ... at=@EPOCH" lines, from `garage-pxe history MAC --json` over the
# private journal's files: what the daemon wrote (--events journal), the installer's own
# syslog included (the daemon receives it on installer.syslog_port).
#
# Caller sets: E2E_NAME (short [a-z], used in the lab prefix), then calls e2e_setup.
# Environment: GARAGE_PXE_BIN (default .build/debug/garage-pxe), E2E_KEEP_LOGS=1 keeps
# the run folder even on success, E2E_RUNS (default /tmp/garage-pxe-e2e) holds them,
# E2E_CAPTURE=FILE.pcap records the DHCP/PXE packets the server sees (scripts/lab/capture.sh;
# how Tests/Fixtures/dhcp was made).

E2E_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
E2E_LAB="$E2E_REPO/scripts/lab"
E2E_BIN="${GARAGE_PXE_BIN:-$E2E_REPO/.build/debug/garage-pxe}"
E2E_PYTHON="$(command -v /usr/bin/python3 || command -v python3)"
E2E_PIDS=()
E2E_VM_PIDS=()
E2E_FAIL=0

e2e_log() { echo "e2e[$E2E_NAME]: $*"; }

e2e_require() {
  [[ -x "$E2E_BIN" ]] || { echo "e2e: $E2E_BIN is not built (swift build)" >&2; exit 2; }
  [[ "$(id -u)" -eq 0 ]] || { echo "e2e: needs root for network namespaces" >&2; exit 2; }
  # Debian 13's netboot tree (the shipped menus install Debian 13): fetched once into a
  # cache folder by scripts/install-deps.sh test; this call only prints its path then.
  E2E_DEBIAN_TREE="$(bash "$E2E_REPO/scripts/fetch-debian13-netboot.sh")" && [[ -d "$E2E_DEBIAN_TREE" ]] ||
    { echo "e2e: Debian 13's netboot installer could not be fetched (scripts/fetch-debian13-netboot.sh)" >&2; exit 2; }
}

# Which accelerator the guests use, and why: KVM only when a short probe boots the Debian
# kernel under it (SeaBIOS, then the kernel up to its "no root fs" panic, within 20 s);
# otherwise TCG, with the scripts' bounds sized for TCG. /dev/kvm on these machines is a
# flavour that cannot run unmodified guests, so TCG is expected here. The
# result is cached per boot of the host (/tmp/garage-pxe-kvm-probe.BOOT_ID).
e2e_accel_probe() {
  local cache kernel log pid ok=0
  E2E_ACCEL=tcg
  if [[ ! -e /dev/kvm ]]; then
    E2E_ACCEL_WHY="no /dev/kvm"
  else
    cache="/tmp/garage-pxe-kvm-probe.$(cat /proc/sys/kernel/random/boot_id)"
    if [[ -s "$cache" ]]; then
      ok="$(cat "$cache")"
    else
      kernel="$E2E_DEBIAN_TREE/debian-installer/amd64/linux"
      log="$(mktemp /tmp/garage-pxe-kvm-probe.XXXXXX)"
      qemu-system-x86_64 -accel kvm -nodefaults -display none -m 256 -no-reboot \
        -kernel "$kernel" -append "console=ttyS0 panic=-1" -serial "file:$log" </dev/null >/dev/null 2>&1 &
      pid=$!
      local deadline=$((SECONDS + 20))
      while ((SECONDS < deadline)); do
        grep -qE "VFS: Unable to mount root|Kernel panic" "$log" 2>/dev/null && { ok=1; break; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rm -f -- "$log"
      echo "$ok" >"$cache"
    fi
    if [[ "$ok" == 1 ]]; then
      E2E_ACCEL=kvm; E2E_ACCEL_WHY="a probe booted the Debian kernel under KVM"
    else
      E2E_ACCEL_WHY="/dev/kvm exists but a 20 s probe could not boot the Debian kernel under it; bounds sized for TCG"
    fi
  fi
  export VM_ACCEL="$E2E_ACCEL"
  echo "e2e: accelerator: ${E2E_ACCEL^^} ($E2E_ACCEL_WHY)"
}

e2e_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  # Guests first (boot-vm.sh stops its own QEMU and tap on TERM), then our servers.
  for pid in "${E2E_VM_PIDS[@]}" "${E2E_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${E2E_VM_PIDS[@]}" "${E2E_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  # What journal-serve.sh started, if it could not stop them itself: each PID checked to be
  # the same process (same start time) before it is signalled.
  if [[ -s "${E2E_JOURNAL:-}.pids" ]]; then
    local started sig
    while read -r pid started; do
      for sig in TERM TERM TERM TERM TERM KILL; do
        [[ "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)" == "$started" ]] || break
        kill -"$sig" "$pid" 2>/dev/null || true
        sleep 1
      done
    done <"$E2E_JOURNAL.pids"
  fi
  ((E2E_FAIL)) && ((rc == 0)) && rc=1
  if [[ -n "${LAB_RUN_DIR:-}" && -d "$LAB_RUN_DIR" ]] && { ((rc != 0)) || [[ "${E2E_KEEP_LOGS:-0}" == 1 ]]; }; then
    mkdir -p "$E2E_RUN_FOLDER"
    cp -r "$LAB_RUN_DIR"/*.log "$LAB_RUN_DIR"/*.leases "$LAB_RUN_DIR"/*.png "$E2E_RUN_FOLDER"/ 2>/dev/null || true
    if [[ -d "${E2E_JOURNAL:-}" ]]; then
      journalctl -q -D "$E2E_JOURNAL" SYSLOG_IDENTIFIER=garage-pxe -o export >"$E2E_RUN_FOLDER/journal.export" 2>/dev/null || true
      journalctl -q -D "$E2E_JOURNAL" SYSLOG_IDENTIFIER=garage-pxe -o json >"$E2E_RUN_FOLDER/journal.json" 2>/dev/null || true
      journalctl -q -D "$E2E_JOURNAL" SYSLOG_IDENTIFIER=garage-pxe -p debug -o short-precise >"$E2E_RUN_FOLDER/journal.txt" 2>/dev/null || true
    fi
    echo "e2e[$E2E_NAME]: serial logs, daemon log and journal (journal.export/.json/.txt) kept in $E2E_RUN_FOLDER" >&2
  fi
  [[ -n "${E2E_PREFIX:-}" ]] && "$E2E_LAB/lab.sh" down "$E2E_PREFIX" >/dev/null 2>&1
  exit "$rc"
}

# e2e_setup: lab up, Debian image imported, test menus, garage-pxe next to a private journald.
# E2E_MENU_TIMEOUT (seconds, default 1): the test copy's menu timeout, so the default
# entry starts on its own quickly (the shipped menu waits 15 s).
e2e_setup() {
  e2e_require
  e2e_accel_probe
  E2E_PREFIX="e2${E2E_NAME:0:6}$((RANDOM % 1000))"
  E2E_RUN_FOLDER="${E2E_RUNS:-/tmp/garage-pxe-e2e}/$E2E_NAME-$(date +%Y%m%d-%H%M%S)-$$"
  eval "$("$E2E_LAB/lab.sh" env "$E2E_PREFIX")"
  trap e2e_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$E2E_LAB/lab.sh" up "$E2E_PREFIX" >/dev/null
  RUN="$LAB_RUN_DIR"
  # Stopped with the lab (lab.sh down stops every PID it recorded; tcpdump flushes on TERM).
  if [[ -n "${E2E_CAPTURE:-}" ]]; then
    CAPTURE_FILTER="${E2E_CAPTURE_FILTER:-udp port 67 or udp port 68 or udp port 4011}" "$E2E_LAB/capture.sh" "$E2E_PREFIX" start "$E2E_CAPTURE" >/dev/null
  fi
  E2E_DAEMON_LOG="$RUN/garage-pxe.log"
  E2E_JOURNAL="$RUN/journal"

  "$E2E_BIN" import debian "$E2E_DEBIAN_TREE" --config "$E2E_REPO/config/garage-pxe.yaml" \
    --images "$RUN/images" >"$RUN/import.log" 2>&1 || { cat "$RUN/import.log" >&2; exit 1; }
  # A test copy of the repository's config (every path in it is overridden on the command
  # line below), so that a script's e2e_customise may list PCs under proxy_dhcp.uefi_ipxe.
  E2E_CONFIG="$RUN/garage-pxe.yaml"
  cp "$E2E_REPO/config/garage-pxe.yaml" "$E2E_CONFIG"
  # A test copy of the shipped menus: same entries and templates, shorter timeout.
  cp -r "$E2E_REPO/pxe-menus" "$RUN/menus"
  sed -i -E "s/^timeout: [0-9]+/timeout: ${E2E_MENU_TIMEOUT:-1}/" "$RUN/menus/menu.yaml"
  grep -q "^timeout: ${E2E_MENU_TIMEOUT:-1}\$" "$RUN/menus/menu.yaml" || { echo "e2e: could not set the menu timeout" >&2; exit 1; }
  # E2E_KERNEL_CONSOLE=1: the installer's kernel also writes its messages to the serial log
  # (the installer itself stays on the screen, tty0 being the last console=), so a PC that
  # stops between the kernel and the installer's DHCP shows where. Off by default: what is
  # tested is the shipped entry's command line.
  if [[ "${E2E_KERNEL_CONSOLE:-0}" == 1 ]]; then
    sed -i -E '/^  - id: debian-13-auto$/a\    kernel_args: "console=ttyS0,115200n8 console=tty0"' "$RUN/menus/menu.yaml"
    grep -q 'kernel_args: "console=ttyS0' "$RUN/menus/menu.yaml" || { echo "e2e: could not add the kernel console" >&2; exit 1; }
  fi
  if declare -F e2e_customise >/dev/null; then e2e_customise; fi
  chmod -R a+rX "$RUN/images" "$RUN/menus"

  # garage-pxe writes its events (the installer's syslog lines too) to a private journald
  # in a mount namespace of its own; its files are in $E2E_JOURNAL for pc_events.
  unshare -m --propagation private "$E2E_REPO/scripts/e2e/journal-serve.sh" "$E2E_JOURNAL" \
    ip netns exec "$LAB_NS_SRV" "$E2E_BIN" serve --config "$E2E_CONFIG" --user root --events journal \
    --interface "$LAB_SRV_IF" --address "$LAB_SRV_ADDR" --http-port "$LAB_HTTP_PORT" \
    --images "$RUN/images" --menus "$RUN/menus" --state "$RUN/state" --tftp-root /usr/lib/ipxe --log-level debug >"$E2E_DAEMON_LOG" 2>&1 &
  E2E_PIDS+=($!)
  for _ in $(seq 1200); do grep -q "garage-pxe started" "$E2E_DAEMON_LOG" && break; sleep 0.1; done
  grep -q "garage-pxe started" "$E2E_DAEMON_LOG" || { echo "e2e: garage-pxe did not start:" >&2; cat "$E2E_DAEMON_LOG" >&2; exit 1; }
}

# Every IPv4 address the LAN's DHCP server acknowledged for MAC (firmware, iPXE and the
# installer may each hold one).
pc_addresses() {
  grep -iE "DHCPACK\([^)]*\) [0-9.]+ $1" "$RUN/isp-dnsmasq.log" 2>/dev/null |
    sed -E 's/.*DHCPACK\([^)]*\) ([0-9.]+) .*/\1/' | sort -u
}

# pc_events MAC: this PC's events, one per line, oldest first, from the journal:
# "EVENT field=value ... at=@EPOCH" (fields without their GARAGE_PXE_ prefix, lowercase;
# an installer.log line ends with message=THE LINE before at=).
# THE one place that knows where events live.
pc_events() {
  { "$E2E_BIN" history "$1" --json --directory "$E2E_JOURNAL" 2>/dev/null || true; } | "$E2E_PYTHON" -c '
import json, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a reader such as head may stop early
try:
    records = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for r in records:
    fields = r["fields"]
    parts = [fields.get("GARAGE_PXE_EVENT", "?")]
    parts += ["%s=%s" % (k[len("GARAGE_PXE_"):].lower(), " ".join(v.split())) for k, v in sorted(fields.items()) if k != "GARAGE_PXE_EVENT"]
    if parts[0] == "installer.log":
        parts.append("message=" + " ".join(r["message"].split()))
    parts.append("at=@%.6f" % (r["realtimeMicroseconds"] / 1e6))
    print(" ".join(parts))
'
  return 0
}

# has_event MAC EVENT [FRAGMENT...]: one of the PC's EVENT lines holds every fragment.
has_event() {
  local mac="$1" event="$2" line frag all
  shift 2
  while IFS= read -r line; do
    [[ "$line" == "$event "* ]] || continue
    all=1
    for frag in "$@"; do [[ "$line" == *"$frag"* ]] || { all=0; break; }; done
    ((all)) && return 0
  done < <(pc_events "$mac")
  return 1
}

no_event() { ! has_event "$@"; }

# first_event_time MAC EVENT: epoch seconds (with fraction) of the PC's first EVENT.
first_event_time() {
  local t
  t="$(pc_events "$1" | grep -m1 "^$2 " | sed -nE 's/.* at=([^ ]+)$/\1/p')"
  [[ -n "$t" ]] && echo "${t#@}"
}

check() { # check DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then e2e_log "ok   $what"; else e2e_log "FAIL $what"; E2E_FAIL=1; fi
}

# start_pc NAME bios|uefi SECONDS [UNTIL_REGEX]: boots a virtual PC in the background
# (boot-vm.sh), records power-on time in POWER_ON_NAME and its MAC in MAC_NAME.
start_pc() {
  local name="$1" mode="$2" limit="$3" until="${4:-}"
  # A PC booted again (install-tail's rearm) waits in boot-vm.sh for its last boot's exit.
  eval "$("$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$name" info)"
  printf -v "MAC_$name" '%s' "$VM_MAC"
  printf -v "POWER_ON_$name" '%s' "$(date +%s.%N)"
  VM_MEM="${VM_MEM:-1024}" VM_UNTIL_REGEX="$until" \
    "$E2E_LAB/boot-vm.sh" "$E2E_PREFIX" "$name" "$mode" "$limit" >"$RUN/boot-vm-$name.log" 2>&1 &
  E2E_VM_PIDS+=($!)
  printf -v "VMPID_$name" '%s' "$!"
  e2e_log "powered on $mode PC $name ($VM_MAC), limit ${limit}s"
}

# wait_for_event MAC EVENT SECONDS [FRAGMENT...]: bounded poll of pc_events.
wait_for_event() {
  local mac="$1" event="$2" limit="$3" deadline
  shift 3
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    has_event "$mac" "$event" "$@" && return 0
    sleep 1
  done
  return 1
}

# e2e_uefi_ipxe MAC...: the test config gives these UEFI PCs iPXE (proxy_dhcp.uefi_ipxe)
# instead of the signed chain. Call from e2e_customise (before the daemon starts).
e2e_uefi_ipxe() { e2e_machine_list uefi_ipxe "$@"; }

# e2e_machine_list KEY MAC...: the MACs become proxy_dhcp.KEY.macs in the test config.
e2e_machine_list() {
  local key="$1" list
  shift
  list="$(printf '"%s", ' "$@")"
  "$E2E_PYTHON" - "$E2E_CONFIG" "$key" "[${list%, }]" <<'PY'
import re, sys
path, key, macs = sys.argv[1:]
text = open(path).read()
# The list's own `macs: []` line: the first after `  KEY:` (comment lines may sit between).
found = re.search(r"(?m)^  %s:\n(?:    #.*\n)*    macs: \[\]\n" % re.escape(key), text)
if not found:
    sys.exit("e2e: proxy_dhcp.%s.macs not found in the config copy" % key)
block = found.group(0).replace("    macs: []\n", "    macs: %s\n" % macs)
open(path, "w").write(text[:found.start()] + block + text[found.end():])
PY
}

# check_full_chain NAME bios|uefi|uefi-sb|uefi-ipxe|http|http-sb: every step from power-on
# to the installer's syslog, each one an event in the journal (garage-pxe history).
#   uefi, uefi-sb: the default for UEFI, Debian's signed chain (Secure Boot off, on);
#   uefi-ipxe: a UEFI PC listed under proxy_dhcp.uefi_ipxe: iPXE, bootfiles.efi_ipxe's
#     default (snponly.efi);
#   http, http-sb: UEFI HTTP boot, the signed chain over HTTP (Secure Boot off, on).
check_full_chain() {
  local name="$1" mode="$2" mac url chain=ipxe
  mac="$(eval echo "\$MAC_$name")"
  url="http://$LAB_SRV_ADDR:$LAB_HTTP_PORT"
  check "[$name] the LAN's plain DHCP server leased $mac an address" test -n "$(pc_addresses "$mac")"
  if [[ "$mode" == uefi || "$mode" == uefi-sb ]]; then
    chain=secureboot-shim
    check "[$name] dhcp.offer: Debian's signed shim to the EDK2 client" \
      has_event "$mac" dhcp.offer arch=efi-bc file=debian-installer/amd64/bootnetx64.efi chain=secureboot-shim
    check "[$name] tftp.sent: the shim" has_event "$mac" tftp.sent file=debian-installer/amd64/bootnetx64.efi
    check "[$name] tftp.sent: Debian's signed GRUB, loaded by shim" has_event "$mac" tftp.sent file=debian-installer/amd64/grubx64.efi
    check "[$name] tftp.sent: grub.cfg rendered by garage-pxe" has_event "$mac" tftp.sent file=debian-installer/amd64/grub/grub.cfg
    check "[$name] no iPXE anywhere on this PC's path" no_event "$mac" dhcp.offer "file=$url/boot.ipxe"
    if [[ "$mode" == uefi-sb ]]; then
      # Linux's EFI stub says so on the serial console when the firmware enforces Secure Boot.
      check "[$name] the kernel booted with Secure Boot enforced (EFI stub on the console)" \
        grep -q "UEFI Secure Boot is enabled" "$RUN/vm-$name.serial.log"
    fi
  elif [[ "$mode" == http || "$mode" == http-sb ]]; then
    # UEFI HTTP boot: the same signed chain, every file over HTTP from the offer's URL.
    chain=secureboot-shim
    check "[$name] dhcp.offer: the shim's URL to the UEFI HTTP boot client (HTTPClient, arch 16)" \
      has_event "$mac" dhcp.offer arch=efi-x64-http "file=$url/debian-installer/amd64/bootnetx64.efi" chain=secureboot-shim
    check "[$name] image.sent: the shim over HTTP" has_event "$mac" image.sent file=/debian-installer/amd64/bootnetx64.efi
    check "[$name] image.sent: Debian's signed GRUB over HTTP, fetched by shim" has_event "$mac" image.sent file=/debian-installer/amd64/grubx64.efi
    check "[$name] image.sent: grub.cfg over HTTP, rendered by garage-pxe" has_event "$mac" image.sent file=/debian-installer/amd64/grub/grub.cfg
    check "[$name] no TFTP at all on this PC's path (its PXE is off)" no_event "$mac" tftp.sent
    check "[$name] no PXE offer to this PC" no_event "$mac" dhcp.offer arch=efi-bc
    if [[ "$mode" == http-sb ]]; then
      check "[$name] the kernel booted with Secure Boot enforced (EFI stub on the console)" \
        grep -q "UEFI Secure Boot is enabled" "$RUN/vm-$name.serial.log"
    fi
  elif [[ "$mode" == uefi-ipxe ]]; then
    check "[$name] dhcp.offer: snponly.efi (the default UEFI iPXE) to the EDK2 client" has_event "$mac" dhcp.offer arch=efi-bc file=snponly.efi
    check "[$name] tftp.sent: snponly.efi" has_event "$mac" tftp.sent file=snponly.efi
    check "[$name] dhcp.offer: HTTP script to the chainloaded iPXE" has_event "$mac" dhcp.offer "file=$url/boot.ipxe"
  else
    # QEMU's BIOS NIC ROM is iPXE already: no TFTP stage on this path.
    check "[$name] dhcp.offer: HTTP script to the iPXE ROM" has_event "$mac" dhcp.offer arch=bios "file=$url/boot.ipxe"
  fi
  local platform=pcbios
  [[ "$mode" == bios ]] || platform=efi
  check "[$name] menu.shown: platform $platform, chain $chain" \
    has_event "$mac" menu.shown entry=debian-13-auto "platform=$platform" "chain=$chain"
  check "[$name] menu.chosen: the default entry after the menu timeout" has_event "$mac" menu.chosen entry=debian-13-auto "chain=$chain"
  check "[$name] image.sent: the kernel" has_event "$mac" image.sent file=/images/debian-13-amd64/linux
  check "[$name] image.sent: the initrd" has_event "$mac" image.sent file=/images/debian-13-amd64/initrd.gz
  check "[$name] installer.started: the Debian installer fetched its preseed" has_event "$mac" installer.started entry=debian-13-auto
  check "[$name] installer.log: the installer's syslog lines carry its MAC" has_event "$mac" installer.log
  check "[$name] installer.step: main-menu's steps from the installer's syslog" has_event "$mac" installer.step step=
  check "[$name] one INSTALL_ID from menu.chosen to the installer's steps" same_install_id "$mac"
  # Every request of this PC's boot was answered, or is one the chain makes on every boot
  # and does without (shim's optional files: http.probe / tftp.probe debug lines).
  check "[$name] no unexplained refusal on this PC's path (http.refused, tftp.failed)" test -z "$(pc_refusals "$mac")"
  pc_refusals "$mac" | cut -c1-220 | sed 's/^/    refused: /'
  if [[ "$chain" == secureboot-shim ]]; then
    local via=tftp.sent prefix=""
    [[ "$mode" == http* ]] && via=image.sent prefix=/
    check "[$name] $via: GRUB's module list command.lst, from the image" has_event "$mac" "$via" "file=${prefix}debian-installer/amd64/grub/x86_64-efi/command.lst"
    check "[$name] shim's optional files answered as expected probes (debug lines)" test -n "$(pc_probes "$mac")"
  fi
  check "[$name] no event fell back to stderr (journald took them all)" bash -c "! grep -q garage-pxe-event '$E2E_DAEMON_LOG'"
}

# pc_refusals MAC: what the daemon refused this PC, one line each: http.refused lines from
# its addresses (a log line, not a journal event) and its tftp.failed events.
pc_refusals() {
  local ip
  for ip in $(pc_addresses "$1"); do grep -E "http\.refused .*remote=${ip//./\\.}( |\$)" "$E2E_DAEMON_LOG" || true; done
  pc_events "$1" | grep '^tftp.failed ' || true
}

# pc_probes MAC: the expected probes of this PC's boot (http.probe, tftp.probe debug lines).
pc_probes() {
  local ip
  for ip in $(pc_addresses "$1"); do grep -E "http\.probe .*remote=${ip//./\\.}( |\$)" "$E2E_DAEMON_LOG" || true; done
  grep -E "tftp\.probe .*mac=$1( |\$)" "$E2E_DAEMON_LOG" || true
}

# diagnose_stall NAME: for a PC that did not reach its installer in time, what it got to:
# its last events, whether the installer's own DHCP (vendor class d-i) reached the LAN's
# server, the serial console's last lines, and a picture of its screen (QMP screendump,
# vm-NAME.png, kept with the run's logs).
diagnose_stall() {
  local name="$1" mac qmp png
  mac="$(eval echo "\$MAC_$name")"
  e2e_log "[$name] STALL: not at the installer by the deadline; last events:"
  { pc_events "$mac" | grep -v '^installer.log' | tail -4 | cut -c1-200 | sed 's/^/    /'; } || true
  if grep -B4 -iE "DHCP(DISCOVER|REQUEST)\([^)]*\) ([0-9.]+ )?$mac" "$RUN/isp-dnsmasq.log" 2>/dev/null | grep -q "vendor class: d-i"; then
    e2e_log "[$name] the installer's own DHCP (vendor class d-i) reached the LAN's server"
  else
    e2e_log "[$name] no DHCP from the installer (vendor class d-i): stopped before the installer's network"
  fi
  e2e_log "[$name] serial console, last lines:"
  sed -E 's/\x1b\[[0-9;=?]*[A-Za-z]//g' "$RUN/vm-$name.serial.log" 2>/dev/null | tr -d '\r' | grep -v '^[[:space:]]*$' | tail -8 | cut -c1-160 | sed 's/^/    | /' || true
  qmp="$RUN/vm-$name.qmp" png="$RUN/vm-$name.png"
  [[ -S "$qmp" ]] || { e2e_log "[$name] no QMP socket: no screen picture"; return 0; }
  timeout 20 "$E2E_PYTHON" - "$qmp" "$RUN/vm-$name.ppm" "$png" <<'PY' && e2e_log "[$name] its screen: $png (kept with the logs)" || e2e_log "[$name] screendump failed"
import json, socket, struct, sys, zlib
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(15)
sock.connect(sys.argv[1])
f = sock.makefile("rw")
def call(cmd, **args):
    f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n"); f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            return reply
json.loads(f.readline())  # greeting
call("qmp_capabilities")
if "error" in call("screendump", filename=sys.argv[2]):
    sys.exit(1)
# PPM (P6) to PNG, so it opens anywhere.
data = open(sys.argv[2], "rb").read()
parts = data.split(maxsplit=4)
width, height, pixels = int(parts[1]), int(parts[2]), parts[4]
rows = b"".join(b"\x00" + pixels[y * width * 3:(y + 1) * width * 3] for y in range(height))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[3], "wb").write(png)
PY
}

# same_install_id MAC: menu.chosen, installer.started and every installer.step share one id.
same_install_id() {
  local ids
  ids="$(pc_events "$1" | grep -E '^(menu.chosen|installer.started|installer.step) ' | grep -oE 'install_id=[^ ]+' | sort -u)"
  [[ -n "$ids" && "$(wc -l <<<"$ids")" -eq 1 ]]
}

# report_timing NAME: power-on -> installer.started, from the daemon's own timestamp.
report_timing() {
  local name="$1" mac on t
  mac="$(eval echo "\$MAC_$name")"
  on="$(eval echo "\$POWER_ON_$name")"
  t="$(first_event_time "$mac" installer.started)" || true
  if [[ -n "$t" ]]; then
    printf 'e2e[%s]: timing %s power-on -> installer.started %.1f s\n' "$E2E_NAME" "$name" "$(echo "$t - $on" | bc)"
  else
    e2e_log "timing $name: installer.started never seen"
  fi
}

show_evidence() {
  local mac="$1"
  e2e_log "evidence for $mac (garage-pxe history):"
  { pc_events "$mac" | grep -v '^installer.log' | cut -c1-220 | sed 's/^/    /' | head -24; } || true
  { pc_events "$mac" | grep '^installer.log' | head -3 | sed -E 's/^.* message=(.*) at=[^ ]+$/\1/; s/^/    | /'; } || true
  echo "    ... $(pc_events "$mac" | grep -c '^installer.log' || true) installer syslog lines in the journal"
}
