# Shared by the benchmark scripts (sourced): undoing what a run set up.

# stop_pids PID...: TERM, up to 5 s each to exit, then KILL. Only PIDs the script started.
stop_pids() {
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# undo_run: stops PIDS, deletes NAMESPACES and removes CGROUPS (the script's arrays).
undo_run() {
  local ns cg
  stop_pids "${PIDS[@]}"
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for cg in "${CGROUPS[@]}"; do rmdir "$cg" 2>/dev/null || true; done
}

# start_tftp_server NAME NAMESPACE DEVICE ADDRESS ROOT RUN [PROXY_SUBNET]: one TFTP server
# as a workshop would run it, in the background, bound to ADDRESS on DEVICE inside
# NAMESPACE, serving ROOT, its files (config, logs, state) in RUN; its PID in STARTED_PID.
# NAME: garage-pxe (the build in GPX_BINARY, default GPX; the shipped configuration but for
# where things are and the per-client cap, raised because every generator transfer comes
# from one address), dnsmasq (TFTP, and proxyDHCP when PROXY_SUBNET is given), tftpd-hpa
# (as Debian's /etc/default/tftpd-hpa: --secure), atftpd (unpacked in ATFTPD_DIR, as its
# package runs it standalone, no multicast). The caller waits until it listens.
start_tftp_server() {
  local name=$1 ns=$2 dev=$3 addr=$4 root=$5 run=$6 subnet=${7:-} dhcp=()
  case "$name" in
    garage-pxe*)
      sed -e "s|^  root: /usr/lib/ipxe|  root: $root|" -e "s|^  menus: .*|  menus: $run/menus|" \
          -e "s|^  images: .*|  images: $run/images|" \
          -e "s|max_tftp_transfers_per_client: .*|max_tftp_transfers_per_client: 64|" \
          "$REPO/config/garage-pxe.yaml" >"$run/garage-pxe.yaml"   # the same for every build
      mkdir -p "$run/menus" "$run/images"
      ip netns exec "$ns" "${GPX_BINARY:-$GPX}" serve --config "$run/garage-pxe.yaml" --user root --interface "$dev" \
        --address "$addr" --events log --state "$run/state-$ns" </dev/null >"$run/$name-$ns.log" 2>&1 & ;;
    dnsmasq)
      # tftp-max raised from 50 so 32 transfers from one address are never refused.
      [[ -n "$subnet" ]] && dhcp=(--dhcp-range="$subnet,proxy" --pxe-service=x86PC,"garage bench",undionly.kpxe)
      ip netns exec "$ns" /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 --user=root \
        --interface="$dev" --bind-interfaces --enable-tftp --tftp-root="$root" --tftp-max=128 "${dhcp[@]}" \
        --dhcp-leasefile="$run/dnsmasq-$ns.leases" --pid-file="$run/dnsmasq-$ns.pid" --log-facility="$run/dnsmasq-$ns.log" </dev/null & ;;
    tftpd-hpa)
      ip netns exec "$ns" /usr/sbin/in.tftpd --listen --foreground --address "$addr:69" --secure "$root" \
        </dev/null >"$run/tftpd-hpa-$ns.log" 2>&1 & ;;
    atftpd)
      ip netns exec "$ns" "$ATFTPD_DIR/usr/sbin/atftpd" --daemon --no-fork --bind-address "$addr" --port 69 \
        --maxthread 128 --no-multicast --logfile "$run/atftpd-$ns.log" "$root" </dev/null >"$run/atftpd-$ns.out" 2>&1 & ;;
    *) echo "start_tftp_server: unknown server $name" >&2; return 2 ;;
  esac
  STARTED_PID=$!
}
