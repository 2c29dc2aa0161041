#!/usr/bin/env bash
# A private apt-cacher-ng for the tests: Debian's real package cache, with its own config
# folder, bound to loopback only (the host's own apt-cacher-ng, if any, is never used or
# touched). Its cache folder persists (default /var/cache/garage-pxe-tests/apt-cacher-ng),
# so a rerun is served from it. Its own requests go to the mirror the host's apt sources use
# (the lab's one exception to "nothing leaves the test's namespaces"): the packaged backend
# list names a mirror that may not resolve, so the config remaps /debian to that mirror.
#
#   package-cache.sh start DIR [PORT [ADDRESS]]
#                          in the background: config, logs and pid in DIR; prints PORT when
#                          it answers on ADDRESS (default 127.0.0.1; run it inside a test
#                          namespace for another). PORT below 32768: apt-cacher-ng 3.7 reads
#                          its Port as a signed 16-bit number.
#   package-cache.sh run DIR PORT [ADDRESS]
#                          the same in the foreground (the script becomes apt-cacher-ng:
#                          for a caller that keeps the process and stops it itself)
#   package-cache.sh stop DIR           stops the one started with DIR (by its recorded PID)
#   package-cache.sh stats DIR          "fetched_bytes=N served_bytes=M" from its transfer log
#
# Environment: GARAGE_PXE_CACHE (default /var/cache/garage-pxe-tests).
# Never run apt-cacher-ng without a config folder: even its --help starts a daemon on
# 0.0.0.0:3142.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

host_mirror() {
  local m
  m=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -1 || true)
  [[ -n "$m" ]] || m=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# The PID in DIR/pid, only while it still is the apt-cacher-ng started with DIR's config.
ours() {
  local pid
  [[ -s "$dir/pid" ]] || return 1
  pid=$(tr -dc '0-9' <"$dir/pid")
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/conf" || return 1
  echo "$pid"
}

# configure PORT ADDRESS: DIR/conf/acng.conf for a private apt-cacher-ng.
configure() {
  local port=$1 address=$2 cache mirror
  command -v apt-cacher-ng >/dev/null || { echo "package-cache: apt-cacher-ng is not installed (scripts/install-deps.sh test)" >&2; exit 2; }
  cache="${GARAGE_PXE_CACHE:-/var/cache/garage-pxe-tests}/apt-cacher-ng"
  mkdir -p "$dir/conf" "$dir/log" "$cache"
  mirror=$(host_mirror)
  # ForeGround: the PID recorded is the daemon itself. The mirror list (deb_mirror*.gz)
  # makes requests for any known Debian mirror land in the same cache entries.
  cat >"$dir/conf/acng.conf" <<CONF
CacheDir: $cache
LogDir: $dir/log
SupportDir: /usr/lib/apt-cacher-ng
Port: $port
BindAddress: $address
SocketPath: $dir/socket
PidFile: $dir/acng.pid
ForeGround: 1
ReportPage: acng-report.html
Remap-debrep: file:deb_mirror*.gz /debian ; ${mirror%/}/
ExThreshold: 4
CONF
}

case "$cmd" in
  run)
    port=${3:?usage: $0 run DIR PORT [ADDRESS]}
    configure "$port" "${4:-127.0.0.1}"
    exec apt-cacher-ng -c "$dir/conf"
    ;;
  start)
    port=${3:-$((20000 + RANDOM % 12000))}
    address=${4:-127.0.0.1}
    configure "$port" "$address"
    apt-cacher-ng -c "$dir/conf" >"$dir/log/stdout" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    for _ in $(seq 100); do
      if curl -s -m 2 "http://$address:$port/" 2>/dev/null | grep -q "Apt-Cacher NG"; then
        echo "$port"
        exit 0
      fi
      ours >/dev/null || break
      sleep 0.1
    done
    echo "package-cache: apt-cacher-ng did not answer on $address:$port" >&2
    cat "$dir/log/stdout" >&2 || true
    "$0" stop "$dir" || true
    exit 1
    ;;
  stop)
    if pid=$(ours); then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
    ;;
  stats)
    # apt-cacher.log lines: TIME|I or O|BYTES|CLIENT|PATH. O counts bytes sent to clients;
    # bytes fetched from the mirror are the I lines (apt-cacher-ng's own transfer log).
    awk -F'|' '$2=="I"{i+=$3} $2=="O"{o+=$3} END{printf "fetched_bytes=%d served_bytes=%d\n", i, o}' "$dir/log/apt-cacher.log" 2>/dev/null ||
      echo "fetched_bytes=0 served_bytes=0"
    ;;
  *) echo "usage: $0 start|run|stop|stats DIR [PORT [ADDRESS]]" >&2; exit 2 ;;
esac
