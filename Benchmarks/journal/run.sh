#!/bin/bash
# Journal benchmarks (issue 5): install events written per second through JournalWriter
# (the daemon's path) and through inline sd_journal_sendv (the floor), and the time of
# `garage-pxe machines` over EVENTS events next to plain `journalctl -o json` reading the
# same events. Each round starts a fresh private systemd-journald in its own mount
# namespace (Tests/InstallJournalTests/private-journald.sh), rate limit lifted: the host's
# journal never sees a benchmark event. Needs root (mount namespace). Small by default.
#
#   sudo Benchmarks/journal/run.sh                 EVENTS=100000 MACHINES=2000 ROUNDS=3 READS=3
set -euo pipefail
EVENTS=${EVENTS:-100000}
MACHINES=${MACHINES:-2000}
ROUNDS=${ROUNDS:-3}
READS=${READS:-3}
repo=$(cd "$(dirname "$0")/../.." && pwd)
helper=$repo/Tests/InstallJournalTests/private-journald.sh

(cd "$repo" && swift build -c release --product garage-pxe >/dev/null)
(cd "$repo/Benchmarks" && swift build -c release --product journal-bench >/dev/null)
bin=$repo/.build/release/garage-pxe
bench=$repo/Benchmarks/.build/release/journal-bench

work=$(mktemp -d /tmp/gpx-journal-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# RateLimitIntervalSec=0: journald's default (10 000 messages per 30 s per service) would
# drop most of a burst; sizes large enough that nothing is vacuumed during a round.
cat >"$work/journald.conf" <<'CONF'
[Journal]
Storage=volatile
RateLimitIntervalSec=0
RuntimeMaxUse=2G
RuntimeMaxFileSize=256M
CONF

cat >"$work/round.sh" <<'ROUND'
set -euo pipefail
bench=$1 bin=$2 mode=$3 events=$4 machines=$5 reads=$6
line=$("$bench" "$events" "$machines" "$mode")
# journald reads its socket on its own time: wait (bounded) until every event is filed.
stored=0
for _ in $(seq 1 600); do
    stored=$(journalctl -q -D /run/log/journal GARAGE_PXE_SITE=bench -o cat | wc -l)
    [ "$stored" -ge "$events" ] && break
    sleep 0.1
done
echo "$line stored=$stored"
[ "$mode" = writer ] || exit 0
TIMEFORMAT='%3R %3U %3S'
for _ in $(seq 1 "$reads"); do
    rows=$(mktemp)
    t=$( { time "$bin" machines --json --directory /run/log/journal >"$rows"; } 2>&1 )
    echo "read=machines wall_user_sys=\"$t\" rows=$(grep -c '"mac" : ' "$rows")"
    t=$( { time journalctl -q -D /run/log/journal -o json GARAGE_PXE_SITE=bench >"$rows"; } 2>&1 )
    echo "read=journalctl-json wall_user_sys=\"$t\" entries=$(wc -l <"$rows")"
    rm -f "$rows"
done
"$bench" "$events" "$machines" lookup
ROUND

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$repo" rev-parse --short HEAD) EVENTS=$EVENTS MACHINES=$MACHINES ROUNDS=$ROUNDS READS=$READS load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    for mode in direct writer; do
        GARAGE_PXE_JOURNALD_CONF="$work/journald.conf" unshare -m --propagation private "$helper" \
            /bin/bash "$work/round.sh" "$bench" "$bin" "$mode" "$EVENTS" "$MACHINES" "$READS" | sed "s/^/round=$round /"
    done
done
