#!/usr/bin/env bash
# Installs the TFTP peers the benchmark compares against, without letting Debian start
# them on the host: tftpd-hpa's package would start a daemon on the host's port 69.
# policy-rc.d exit 101 tells invoke-rc.d not to start anything; it is removed again only
# if this script created it. dnsmasq-base ships no service at all.
set -euo pipefail
wanted=(tftpd-hpa dnsmasq-base python3 iproute2 build-essential libssl-dev linux-perf)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# atftpd conflicts with tftpd-hpa as a package, so it is not installed: its .deb from
# Debian's archive is unpacked into a folder of its own (ATFTPD_DIR) and run from there.
ATFTPD_DIR=${ATFTPD_DIR:-/var/cache/garage-pxe-bench/atftpd}
if [ ! -x "$ATFTPD_DIR/usr/sbin/atftpd" ]; then
  mkdir -p "$ATFTPD_DIR"
  (cd "$ATFTPD_DIR" && rm -f atftpd_*.deb && apt-get download -q atftpd && dpkg -x atftpd_*.deb "$ATFTPD_DIR")
fi
[ ${#missing[@]} -eq 0 ] && exit 0

before=$(pgrep -x "in.tftpd|atftpd" || true)
created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created=1
fi
cleanup() { [ "$created" = 1 ] && rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q --no-install-recommends "${missing[@]}"

# Whatever in.tftpd appeared on the host during the install is ours to stop (by PID).
for pid in $(pgrep -x "in.tftpd|atftpd" || true); do
  if ! grep -qw "$pid" <<<"$before"; then
    echo "install-peers: stopping TFTP server $pid that the package started on the host" >&2
    kill "$pid" || true
  fi
done
if pgrep -x in.tftpd >/dev/null; then echo "install-peers: an in.tftpd is running on the host (not started by us)" >&2; fi
exit 0
