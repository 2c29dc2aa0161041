#!/usr/bin/env bash
# Bench-LAN lab: three network namespaces joined by a Linux bridge.
#
#   ${PREFIX}-lan : bridge br0 + one tap per virtual PC (boot-vm.sh adds them)
#   ${PREFIX}-isp : eth0 10.77.0.1/24, a plain dnsmasq DHCP server handing out
#                   10.77.0.100-199 with router + DNS options and NO PXE options
#                   (it plays the ISP box / office router the PXE server must
#                   coexist with)
#   ${PREFIX}-srv : eth0 10.77.0.2/24, where the PXE server under test runs
#                   (reference-proxy.sh, or garage-pxe later)
#
# Why namespaces: a DHCP/TFTP server must never see the host's real LAN. Every
# address here exists only inside these namespaces, and `down` deletes them.
#
# Usage:
#   lab.sh up PREFIX       create the lab (fails if it already exists)
#   lab.sh down PREFIX     stop recorded PIDs, delete namespaces + run dir
#                          (idempotent; safe on a half-made lab)
#   lab.sh env PREFIX      print shell assignments for callers: eval "$(lab.sh env p1)"
#   lab.sh status PREFIX   human-readable state
#
# Environment:
#   LAB_KEEP_RUN_DIR=1     `down` keeps /tmp/${PREFIX}-lab (logs) for debugging
#   LAB_ISP_DHCP=0         `up` does not start the ISP DHCP server (then the
#                          PXE server under test sees clients with no leases)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
[[ $# -ge 2 ]] || usage
lab_set_names "$2"

print_env() {
  # printf %q so the output is safe to eval even if values ever gain spaces.
  local k
  for k in PREFIX NS_LAN NS_ISP NS_SRV RUN_DIR; do
    printf 'LAB_%s=%q\n' "$k" "${!k}"
  done
  printf 'LAB_BRIDGE=%q\n' "$LAB_BRIDGE"
  printf 'LAB_SRV_IF=%q\n' "$LAB_SRV_IF"
  printf 'LAB_SRV_ADDR=%q\n' "$LAB_SRV_ADDR"
  printf 'LAB_SRV_CIDR=%q\n' "$LAB_SRV_ADDR/$LAB_PREFIXLEN"
  printf 'LAB_ISP_IF=%q\n' "$LAB_ISP_IF"
  printf 'LAB_ISP_ADDR=%q\n' "$LAB_ISP_ADDR"
  printf 'LAB_SUBNET=%q\n' "$LAB_SUBNET"
  printf 'LAB_NETMASK=%q\n' "$LAB_NETMASK"
  printf 'LAB_PREFIXLEN=%q\n' "$LAB_PREFIXLEN"
  printf 'LAB_POOL=%q\n' "$LAB_POOL_START-$LAB_POOL_END"
  printf 'LAB_HTTP_PORT=%q\n' "$LAB_HTTP_PORT"
  # Convenience: prefix for commands that must run inside the srv namespace.
  printf 'LAB_SRV_EXEC=%q\n' "ip netns exec $NS_SRV"
}

lab_down() {
  local f
  # 1. Stop every process the lab scripts recorded (VMs, captures, reference
  #    proxy, HTTP server, ISP dnsmasq). Only PIDs whose argv mentions RUN_DIR.
  if [[ -d "$RUN_DIR" ]]; then
    for f in "$RUN_DIR"/*.pid; do
      [[ -e "$f" ]] || continue
      stop_pidfile "$f" TERM 5
    done
  fi
  # 2. Warn (never kill) about processes we did not start that still sit in
  #    our namespaces: they keep the namespace's network stack alive.
  for ns in "$NS_SRV" "$NS_ISP" "$NS_LAN"; do
    if ns_exists "$ns"; then
      local left
      left="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
      [[ -z "$left" ]] || log "warning: processes still in $ns (not started by lab, not killed): $left"
      # Deleting the lan namespace also deletes br0, the taps and the veth
      # ends; the peers in isp/srv vanish with their veth partners.
      ip netns delete "$ns" 2>/dev/null || log "could not delete netns $ns"
    fi
  done
  if [[ -d "$RUN_DIR" && "${LAB_KEEP_RUN_DIR:-0}" != 1 ]]; then
    rm -rf -- "$RUN_DIR"
  fi
}

start_isp_dhcp() {
  # dnsmasq as a bare DHCP server: --port=0 disables DNS, --no-ping skips the
  # ~3 s ICMP probe before each offer, router + DNS options are
  # there because the Debian installer refuses to continue without them.
  # No pxe-*/dhcp-boot options: like an ISP box, it knows nothing about PXE.
  # It daemonizes and writes the pidfile itself, so startup errors surface as
  # a non-zero exit status right here.
  ip netns exec "$NS_ISP" /usr/sbin/dnsmasq \
    --conf-file=/dev/null \
    --port=0 \
    --no-ping \
    --interface="$LAB_ISP_IF" --bind-interfaces \
    --dhcp-range="$LAB_POOL_START,$LAB_POOL_END,$LAB_NETMASK,1h" \
    --dhcp-option=option:router,"$LAB_ISP_ADDR" \
    --dhcp-option=option:dns-server,"$LAB_ISP_ADDR" \
    --dhcp-authoritative \
    --dhcp-leasefile="$RUN_DIR/isp.leases" \
    --pid-file="$RUN_DIR/isp-dnsmasq.pid" \
    --log-facility="$RUN_DIR/isp-dnsmasq.log" \
    --log-dhcp
  wait_for_udp_port "$NS_ISP" 67 5 || die "ISP dnsmasq did not bind :67 (see $RUN_DIR/isp-dnsmasq.log)"
}

lab_up() {
  require_root
  for ns in "$NS_LAN" "$NS_ISP" "$NS_SRV"; do
    ns_exists "$ns" && die "netns $ns already exists; run: $0 down $PREFIX"
  done
  # A failure half-way must not leave namespaces behind.
  trap 'rc=$?; log "up failed (rc=$rc), tearing down"; lab_down; exit $rc' ERR

  mkdir -p "$RUN_DIR"
  # dnsmasq drops root to user "dnsmasq"; it must be able to reach its lease
  # and log files, so the run dir is world-traversable (files stay root-owned
  # unless dnsmasq creates them).
  chmod 755 "$RUN_DIR"

  for ns in "$NS_LAN" "$NS_ISP" "$NS_SRV"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # No IPv6 on the lab links: keeps captures free of RS/MLD/DAD noise.
    # (With no router advertisements, iPXE then waits ~15 s for IPv6 autoconf at each `dhcp`.)
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1 || true
  done

  # The bridge: STP off and zero forward delay so a freshly plugged tap
  # forwards at once (a real switch without portfast would block ~30 s).
  ip -n "$NS_LAN" link add "$LAB_BRIDGE" type bridge stp_state 0 forward_delay 0
  ip -n "$NS_LAN" link set "$LAB_BRIDGE" up

  # veth pairs created directly between namespaces: nothing ever appears in
  # the root namespace. Bridge-side ends are named after their peer.
  ip -n "$NS_LAN" link add isp type veth peer name "$LAB_ISP_IF" netns "$NS_ISP"
  ip -n "$NS_LAN" link add srv type veth peer name "$LAB_SRV_IF" netns "$NS_SRV"
  for port in isp srv; do
    ip -n "$NS_LAN" link set "$port" master "$LAB_BRIDGE" up
  done

  ip -n "$NS_ISP" addr add "$LAB_ISP_ADDR/$LAB_PREFIXLEN" dev "$LAB_ISP_IF"
  ip -n "$NS_ISP" link set "$LAB_ISP_IF" up
  ip -n "$NS_SRV" addr add "$LAB_SRV_ADDR/$LAB_PREFIXLEN" dev "$LAB_SRV_IF"
  ip -n "$NS_SRV" link set "$LAB_SRV_IF" up
  # The srv namespace gets a default route via the "ISP box" so that a server
  # replying to 255.255.255.255 or to a not-yet-configured client always has
  # a route (broadcast on an on-link /24 works anyway; this is belt and braces).
  ip -n "$NS_SRV" route add default via "$LAB_ISP_ADDR" dev "$LAB_SRV_IF"

  if [[ "${LAB_ISP_DHCP:-1}" != 0 ]]; then
    start_isp_dhcp
  fi
  print_env >"$RUN_DIR/env"
  trap - ERR
  log "lab $PREFIX is up (run dir $RUN_DIR)"
  print_env
}

lab_status() {
  for ns in "$NS_LAN" "$NS_ISP" "$NS_SRV"; do
    if ns_exists "$ns"; then
      echo "== netns $ns"
      ip -n "$ns" -br addr
    else
      echo "== netns $ns: absent"
    fi
  done
  if [[ -d "$RUN_DIR" ]]; then
    echo "== recorded processes ($RUN_DIR)"
    for f in "$RUN_DIR"/*.pid; do
      [[ -e "$f" ]] || continue
      if pid_is_ours "$f"; then
        echo "$(basename "$f" .pid): pid $(cat "$f") running"
      else
        echo "$(basename "$f" .pid): stale"
      fi
    done
  fi
}

case "$cmd" in
  up) lab_up ;;
  down) require_root; lab_down; log "lab $PREFIX is down" ;;
  env) print_env ;;
  status) lab_status ;;
  *) usage ;;
esac
