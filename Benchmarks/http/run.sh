#!/usr/bin/env bash
# HTTP benchmark: the Debian installer's initrd (40 MB) served by garage-pxe and by nginx
# side by side, in one run, at 1, 16 and 64 concurrent clients, with the same load
# generator (wrk); then the p99 latency of rendering a PC's menu (/boot.ipxe?mac=…).
#
# Everything runs inside a network namespace this script creates and deletes: the daemon
# (which also binds proxyDHCP :67/:4011), nginx and wrk. Nothing touches the host network.
#
# Each (server, clients) pair runs ROUNDS times, the two servers taking turns, and the
# median is reported: the machine is shared, and turns spread any outside load evenly.
#
# Usage: Benchmarks/http/run.sh [SECONDS_PER_RUN]      (root; release build of garage-pxe)
# Environment: GARAGE_PXE_BIN (default .build/release/garage-pxe), ROUNDS (default 3)
set -euo pipefail

DURATION="${1:-10}"
ROUNDS="${ROUNDS:-3}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${GARAGE_PXE_BIN:-$REPO/.build/release/garage-pxe}"
TREE=/usr/lib/debian-installer/images/12/amd64/text
[[ "$(id -u)" -eq 0 ]] || { echo "bench: needs root (network namespace)" >&2; exit 2; }
[[ -x "$BIN" ]] || { echo "bench: $BIN is not built (swift build -c release)" >&2; exit 2; }

# nginx and wrk from Debian. The nginx package would start a web server on the host:
# a policy-rc.d that says "no" keeps it from doing so (and is removed if we made it).
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
[[ -d "$TREE" ]] || need+=(debian-installer-12-netboot-amd64)
if [[ ${#need[@]} -gt 0 ]]; then
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  [[ $made_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d
fi
if pgrep -x nginx >/dev/null && ! pgrep -x nginx | xargs -r -n1 ip netns identify | grep -q .; then
  echo "bench: an nginx runs on the host (not started by this script); stop it before benchmarking" >&2
  exit 1
fi

NS="gpxbench$((RANDOM % 10000))"
RUN="$(mktemp -d /tmp/gpxbench.XXXXXX)"
chmod 755 "$RUN"  # nginx workers run as www-data
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add eth0 type veth peer name eth1
ip -n "$NS" link set eth1 up
ip -n "$NS" addr add 10.98.0.1/24 dev eth0
ip -n "$NS" link set eth0 up

"$BIN" import debian "$TREE" --config "$REPO/config/garage-pxe.yaml" --images "$RUN/images" >/dev/null
FILE=images/debian-12-amd64/initrd.gz
SIZE=$(stat -c %s "$RUN/$FILE")

GPX_PORT=8081
NGINX_PORT=8082
ip netns exec "$NS" "$BIN" serve --config "$REPO/config/garage-pxe.yaml" --user root --interface eth0 --address 10.98.0.1 \
  --http-port "$GPX_PORT" --images "$RUN/images" --tftp-root /usr/lib/ipxe --log-level warning >"$RUN/garage-pxe.log" 2>&1 &
PIDS+=($!)

# nginx as Debian ships it for static files (sendfile on, one worker per core).
mkdir -p "$RUN/nginx"
cat >"$RUN/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  sendfile on;
  tcp_nopush on;
  access_log off;
  client_body_temp_path $RUN/nginx;
  proxy_temp_path $RUN/nginx;
  fastcgi_temp_path $RUN/nginx;
  uwsgi_temp_path $RUN/nginx;
  scgi_temp_path $RUN/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $RUN;
  }
}
CONF
ip netns exec "$NS" nginx -c "$RUN/nginx/nginx.conf" &
PIDS+=($!)

ready() { ip netns exec "$NS" curl -sf -o /dev/null --max-time 2 "$1"; }
for _ in $(seq 100); do ready "http://127.0.0.1:$GPX_PORT/$FILE" && ready "http://127.0.0.1:$NGINX_PORT/$FILE" && break; sleep 0.2; done
ready "http://127.0.0.1:$GPX_PORT/$FILE" || { echo "bench: garage-pxe did not start" >&2; cat "$RUN/garage-pxe.log" >&2; exit 1; }
ready "http://127.0.0.1:$NGINX_PORT/$FILE" || { echo "bench: nginx did not start" >&2; cat "$RUN/nginx/error.log" >&2; exit 1; }
cmp <(ip netns exec "$NS" curl -s "http://127.0.0.1:$GPX_PORT/$FILE") "$RUN/$FILE" || { echo "bench: garage-pxe served wrong bytes" >&2; exit 1; }

# wrk's "Transfer/sec" in MiB/s and its request count.
wrk_run() { # wrk_run URL CONNECTIONS [extra wrk flags]
  local url=$1 c=$2; shift 2
  local threads=$(( c < 2 ? 1 : 2 ))
  ip netns exec "$NS" wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 60s "$@" "$url"
}
mib_per_s() {
  awk '/Transfer\/sec/ { v=$2; u=substr(v, length(v)-1); n=substr(v, 1, length(v)-2);
       if (u=="GB") n*=1024; else if (u=="KB") n/=1024; else if (u!="MB") n=substr(v,1,length(v)-1)/1048576; printf "%.0f", n }'
}
requests() { awk '/requests in/ { print $1 }'; }

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "bench: initrd.gz ($SIZE bytes), ${DURATION}s per run, $ROUNDS rounds, wrk, inside namespace $NS; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| clients | garage-pxe MiB/s | nginx MiB/s | ratio | garage-pxe runs | nginx runs |\n'
printf '|---:|---:|---:|---:|---|---|\n'
for c in 1 16 64; do
  : >"$RUN/gpx-$c"; : >"$RUN/nginx-$c"
  for r in $(seq "$ROUNDS"); do
    # Take turns going first, so neither always runs on a warmer (or busier) machine.
    if (( r % 2 )); then order=(gpx nginx); else order=(nginx gpx); fi
    for who in "${order[@]}"; do
      port=$GPX_PORT; [[ $who == nginx ]] && port=$NGINX_PORT
      wrk_run "http://127.0.0.1:$port/$FILE" "$c" >"$RUN/wrk.txt"
      mib_per_s <"$RUN/wrk.txt" >>"$RUN/$who-$c"; echo >>"$RUN/$who-$c"
    done
  done
  g=$(median <"$RUN/gpx-$c"); n=$(median <"$RUN/nginx-$c")
  printf '| %d | %s | %s | %s | %s | %s |\n' "$c" "$g" "$n" "$(awk -v a="$g" -v b="$n" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
    "$(paste -sd' ' "$RUN/gpx-$c")" "$(paste -sd' ' "$RUN/nginx-$c")"
done
echo "bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg); garage-pxe peak memory: $(grep VmHWM /proc/"${PIDS[0]}"/status | awk '{ print $2 / 1024 " MiB" }')"

MENU="http://127.0.0.1:$GPX_PORT/boot.ipxe?mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64&manufacturer=LENOVO&product=ThinkCentre%20M720q&serial=PF0ABCDE"
ip netns exec "$NS" curl -sf "$MENU" | grep -q "^choose " || { echo "bench: menu not rendered" >&2; exit 1; }
for c in 1 16; do
  echo
  echo "bench: menu render (GET /boot.ipxe?mac=…, shipped menu), $c client(s), ${DURATION}s"
  wrk_run "$MENU" "$c" --latency >"$RUN/wrk-menu.txt"
  awk '/Requests\/sec/ { print "requests/s: " $2 } / 50%/ { print "p50: " $2 } / 90%/ { print "p90: " $2 } / 99%/ { print "p99: " $2 }' "$RUN/wrk-menu.txt"
  if grep -q "Non-2xx" "$RUN/wrk-menu.txt"; then echo "bench: some menu requests failed" >&2; cat "$RUN/wrk-menu.txt" >&2; exit 1; fi
done
exit 0
