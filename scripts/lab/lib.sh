# shellcheck shell=bash
# Shared helpers for the bench-LAN lab scripts (sourced, not executed).
#
# Why a library: every lab script must agree on the same names (namespaces,
# run dir, addresses) and must stop processes the same careful way (only PIDs
# we recorded, and only if that PID still is the process we started).

# ---- fixed lab facts --------------------------------------------------------
# A private /24 that exists only inside the lab namespaces.
LAB_SUBNET="10.77.0.0"
LAB_NETMASK="255.255.255.0"
LAB_PREFIXLEN="24"
LAB_ISP_ADDR="10.77.0.1"      # plain DHCP server ("ISP box"), also router/DNS it announces
LAB_SRV_ADDR="10.77.0.2"      # where the PXE server under test runs
LAB_POOL_START="10.77.0.100"
LAB_POOL_END="10.77.0.199"
LAB_HTTP_PORT="8080"
# Interface names inside the namespaces; every namespace has its own name
# space for links, so these short fixed names never clash with the host.
LAB_BRIDGE="br0"              # in ${PREFIX}-lan
LAB_SRV_IF="eth0"             # in ${PREFIX}-srv
LAB_ISP_IF="eth0"             # in ${PREFIX}-isp

die() { echo "lab: error: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

# PREFIX names the namespaces (${PREFIX}-lan/-isp/-srv) and the run dir.
# Keep it short and boring: [a-z0-9] only, so it is safe in file names, in
# namespace names and in log lines. Interface names do not depend on it (each
# namespace has its own link names), so the 15-char IFNAMSIZ limit is not hit.
lab_check_prefix() {
  local p="${1:-}"
  [[ "$p" =~ ^[a-z0-9]{1,12}$ ]] ||
    die "PREFIX must be 1-12 chars [a-z0-9] (got '${p}')"
}

lab_set_names() {
  PREFIX="$1"
  lab_check_prefix "$PREFIX"
  NS_LAN="${PREFIX}-lan"
  NS_ISP="${PREFIX}-isp"
  NS_SRV="${PREFIX}-srv"
  RUN_DIR="/tmp/${PREFIX}-lab"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# pid_is_ours PIDFILE: true if the PID in PIDFILE is alive AND its command
# line mentions our run dir. Every process the lab starts carries RUN_DIR in
# its argv (a pid/log/lease/serial file path), so a recycled PID belonging to
# some unrelated process is never signalled.
pid_is_ours() {
  local pidfile="$1" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$RUN_DIR"
}

# wait_pid_ours PIDFILE TIMEOUT_S: right after `cmd &`, the child is still a
# copy of this shell (argv without RUN_DIR) until it execs; wait (bounded)
# until the recorded PID shows its real argv, so that pid_is_ours() is
# meaningful. Fails if the process died or never exec'd in time.
wait_pid_ours() {
  local pidfile="$1" timeout="$2" pid i
  pid="$(tr -dc '0-9' <"$pidfile")"
  for ((i = 0; i < timeout * 10; i++)); do
    pid_is_ours "$pidfile" && return 0
    [[ -d "/proc/$pid" ]] || return 1
    sleep 0.1
  done
  return 1
}

# stop_pidfile PIDFILE [SIGNAL] [TIMEOUT_S]: signal the recorded process,
# wait (bounded) for it to exit, escalate to SIGKILL, remove the pidfile.
stop_pidfile() {
  local pidfile="$1" sig="${2:-TERM}" timeout="${3:-5}" pid i
  if pid_is_ours "$pidfile"; then
    pid="$(tr -dc '0-9' <"$pidfile")"
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
      [[ -d "/proc/$pid" ]] || break
      # a zombie child of ours counts as gone
      [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]] && break
      sleep 0.1
    done
    if [[ -d "/proc/$pid" ]] && pid_is_ours "$pidfile"; then
      log "pid $pid ignored SIG$sig for ${timeout}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f -- "$pidfile"
}

# wait_for_file_match FILE REGEX TIMEOUT_S: bounded poll for a log line.
wait_for_file_match() {
  local file="$1" re="$2" timeout="$3" i
  for ((i = 0; i < timeout * 10; i++)); do
    if [[ -f "$file" ]] && grep -qE -- "$re" "$file"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# wait_for_port udp|tcp NS PORT TIMEOUT_S: bounded poll until something listens.
wait_for_port() {
  local proto="$1" ns="$2" port="$3" timeout="$4" i flag
  [[ "$proto" == udp ]] && flag=-Hlun || flag=-Hltn
  for ((i = 0; i < timeout * 10; i++)); do
    if ip netns exec "$ns" ss "$flag" "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
    sleep 0.1
  done
  return 1
}
wait_for_udp_port() { wait_for_port udp "$@"; }
wait_for_tcp_port() { wait_for_port tcp "$@"; }

require_root() { [[ "$(id -u)" == 0 ]] || die "must run as root (network namespaces)"; }
