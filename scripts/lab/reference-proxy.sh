#!/usr/bin/env bash
# Reference PXE peer for the bench-LAN lab: dnsmasq in proxyDHCP mode + its
# TFTP server, and a tiny python3 HTTP server, all inside ${PREFIX}-srv.
#
# Why: it is a known-good PXE server to record what real clients send and
# how they react (golden captures under Tests/Fixtures/dhcp/), and a yardstick
# for garage-pxe, which later runs in the same namespace instead of this.
#
# Chain it sets up:
#   BIOS  (x86PC, arch 0)        -> TFTP undionly.kpxe
#   UEFI  (X86-64_EFI 7, BC_EFI 9) -> TFTP ipxe.efi
#   any client with user-class (option 77) "iPXE"
#                                -> http://10.77.0.2:8080/boot.ipxe (breaks the loop)
#   boot.ipxe prints "garage-pxe-lab-ok" and drops to the iPXE shell.
#
# Usage:
#   reference-proxy.sh PREFIX start    (lab must be up: lab.sh up PREFIX)
#   reference-proxy.sh PREFIX stop
# Files: $RUN_DIR/ref/{dnsmasq.conf,tftp/,http/}, logs $RUN_DIR/ref-*.log
# Environment:
#   REF_EXTRA_CONF=FILE   appended to the generated dnsmasq.conf (experiments)
#   REF_BOOT_SCRIPT=FILE  served as boot.ipxe instead of the default script
#   REF_MODE=tftp-only    no DHCP/proxyDHCP at all, only TFTP + HTTP (pair it
#                         with pxe-responder.py, or with garage-pxe's DHCP side)
#   REF_HTTP=nginx        serve $REF/http with nginx (what a workshop would run next
#                         to dnsmasq) instead of python's http.server; the access
#                         log goes to the same ref-http.log, one request a line
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -eq 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
lab_set_names "$1"
action="$2"
require_root

REF="$RUN_DIR/ref"
DNSMASQ_PID="$RUN_DIR/ref-dnsmasq.pid"
HTTP_PID="$RUN_DIR/ref-http.pid"
IPXE_DIR="/usr/lib/ipxe"
# The system python (not a pyenv shim): its PID is the server's PID.
PYTHON="${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"

start() {
  ns_exists "$NS_SRV" || die "netns $NS_SRV missing: run lab.sh up $PREFIX first"
  pid_is_ours "$DNSMASQ_PID" && die "reference proxy already running (pid $(cat "$DNSMASQ_PID"))"
  trap 'rc=$?; log "start failed (rc=$rc), stopping what started"; stop; exit $rc' ERR

  mkdir -p "$REF/tftp" "$REF/http"
  # Copies, not symlinks: dnsmasq's TFTP runs as an unprivileged user and
  # must read the files; the copies make the tftp root self-contained.
  for f in undionly.kpxe ipxe.efi snponly.efi; do
    install -m 0644 "$IPXE_DIR/$f" "$REF/tftp/$f"
  done
  chmod 0755 "$REF" "$REF/tftp" "$REF/http"

  if [[ -n "${REF_BOOT_SCRIPT:-}" ]]; then
    install -m 0644 -- "$REF_BOOT_SCRIPT" "$REF/http/boot.ipxe"
  else
    cat >"$REF/http/boot.ipxe" <<'EOF'
#!ipxe
echo garage-pxe-lab-ok mac=${mac} platform=${platform} buildarch=${buildarch}
shell
EOF
  fi
  chmod 0644 "$REF/http/boot.ipxe"

  # dnsmasq config. Notes on each choice:
  # - port=0: no DNS. bind-interfaces + interface: only the srv link.
  # - dhcp-range=<net>,proxy: proxyDHCP, never hands out addresses (the ISP
  #   box does that); dnsmasq answers DISCOVERs on :67 and REQUESTs on :4011.
  # - dhcp-userclass=set:ipxe,iPXE: option 77 == "iPXE" marks a client already
  #   running iPXE; it gets the HTTP script instead of iPXE again (loop break).
  # - One pxe-service per arch and tag. Observed with dnsmasq 2.90: BIOS
  #   clients still get a one-item menu in option 43 (sub-options 6=3, 8, 9,
  #   10 with timeout 0, i.e. "boot the first item now"); UEFI clients get no
  #   option 43 and are answered on :4011 (see Tests/Fixtures/dhcp/README.md).
  # - A basename with a suffix (".kpxe", ".efi", ".ipxe") gets no ".0" added.
  # REF_MODE=tftp-only: the same TFTP + HTTP, but no DHCP at all (for
  # experiments where pxe-responder.py plays the proxyDHCP).
  if [[ "${REF_MODE:-proxy}" == tftp-only ]]; then
    cat >"$REF/dnsmasq.conf" <<EOF
port=0
interface=$LAB_SRV_IF
bind-interfaces
enable-tftp
tftp-root=$REF/tftp
EOF
  else
    cat >"$REF/dnsmasq.conf" <<EOF
port=0
interface=$LAB_SRV_IF
bind-interfaces
dhcp-range=$LAB_SUBNET,proxy,$LAB_NETMASK
log-dhcp
dhcp-userclass=set:ipxe,iPXE
pxe-service=tag:!ipxe,x86PC,"lab BIOS -> undionly.kpxe",undionly.kpxe
pxe-service=tag:!ipxe,X86-64_EFI,"lab UEFI -> ipxe.efi",ipxe.efi
pxe-service=tag:!ipxe,BC_EFI,"lab UEFI -> ipxe.efi",ipxe.efi
pxe-service=tag:ipxe,x86PC,"lab iPXE script",http://$LAB_SRV_ADDR:$LAB_HTTP_PORT/boot.ipxe
pxe-service=tag:ipxe,X86-64_EFI,"lab iPXE script",http://$LAB_SRV_ADDR:$LAB_HTTP_PORT/boot.ipxe
pxe-service=tag:ipxe,BC_EFI,"lab iPXE script",http://$LAB_SRV_ADDR:$LAB_HTTP_PORT/boot.ipxe
enable-tftp
tftp-root=$REF/tftp
EOF
  fi
  if [[ -n "${REF_EXTRA_CONF:-}" ]]; then
    cat -- "$REF_EXTRA_CONF" >>"$REF/dnsmasq.conf"
  fi

  # dnsmasq daemonizes after binding, so config/bind errors show up as a
  # non-zero exit status here.
  ip netns exec "$NS_SRV" /usr/sbin/dnsmasq \
    --conf-file="$REF/dnsmasq.conf" \
    --pid-file="$DNSMASQ_PID" \
    --log-facility="$RUN_DIR/ref-dnsmasq.log"
  if [[ "${REF_MODE:-proxy}" != tftp-only ]]; then
    wait_for_udp_port "$NS_SRV" 4011 5 || die "reference dnsmasq did not bind :4011"
  fi
  wait_for_udp_port "$NS_SRV" 69 5 || die "reference dnsmasq did not bind :69"

  if [[ "${REF_HTTP:-python}" == nginx ]]; then
    start_nginx
  else
    # HTTP: python's http.server sends Content-Length (iPXE is much slower
    # without it). Run in the background with our PID recorded; argv contains
    # $REF/http so pid_is_ours() recognizes it. setsid: not tied to our shell.
    ip netns exec "$NS_SRV" setsid "$PYTHON" -u -m http.server "$LAB_HTTP_PORT" \
      --bind "$LAB_SRV_ADDR" --directory "$REF/http" \
      </dev/null >>"$RUN_DIR/ref-http.log" 2>&1 &
    echo $! >"$HTTP_PID"
  fi
  wait_pid_ours "$HTTP_PID" 5 || die "HTTP server did not start (see $RUN_DIR/ref-http.log)"
  wait_for_tcp_port "$NS_SRV" "$LAB_HTTP_PORT" 10 || die "HTTP server did not listen on :$LAB_HTTP_PORT"
  trap - ERR
  log "reference proxy up in $NS_SRV: dnsmasq pid $(cat "$DNSMASQ_PID"), http pid $(cat "$HTTP_PID")"
}

# nginx in the foreground (daemon off) so the recorded PID is its master, whose argv
# ("-c $REF/nginx.conf") names the run dir for pid_is_ours(). For boot files:
# sendfile, nothing served but $REF/http.
start_nginx() {
  [[ -x /usr/sbin/nginx ]] || die "REF_HTTP=nginx needs nginx (apt-get install -y nginx-light)"
  mkdir -p "$REF/nginx-tmp"
  cat >"$REF/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $REF/nginx.pid;
error_log $RUN_DIR/ref-http.log warn;
events { worker_connections 256; }
http {
  types { application/octet-stream linux; application/gzip gz; text/plain ipxe cfg; }
  access_log $RUN_DIR/ref-http.log;
  client_body_temp_path $REF/nginx-tmp;
  proxy_temp_path $REF/nginx-tmp;
  fastcgi_temp_path $REF/nginx-tmp;
  uwsgi_temp_path $REF/nginx-tmp;
  scgi_temp_path $REF/nginx-tmp;
  sendfile on;
  tcp_nopush on;
  server {
    listen $LAB_SRV_ADDR:$LAB_HTTP_PORT;
    root $REF/http;
  }
}
EOF
  ip netns exec "$NS_SRV" setsid /usr/sbin/nginx -c "$REF/nginx.conf" </dev/null >>"$RUN_DIR/ref-http.log" 2>&1 &
  echo $! >"$HTTP_PID"
}

stop() {
  stop_pidfile "$HTTP_PID" TERM 5
  stop_pidfile "$DNSMASQ_PID" TERM 5
}

case "$action" in
  start) start ;;
  stop) stop; log "reference proxy stopped" ;;
  *) die "action must be start or stop" ;;
esac
