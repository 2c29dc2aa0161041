#!/bin/bash
# Runs "$@" next to a private systemd-journald. Call it under
# `unshare -m --propagation private`: the tmpfs mounts below then hide the host's journal
# socket and files from everything started here, and vanish with the namespace.
set -u
for dir in /run/systemd/journal /run/log/journal /var/log/journal; do
    mkdir -p "$dir" && mount -t tmpfs tmpfs "$dir" || { echo "cannot mount tmpfs on $dir"; exit 90; }
done
# As systemd-tmpfiles prepares them on a real system (tmpfiles.d/systemd.conf): journal
# files readable by the systemd-journal group, so a daemon run as an unprivileged member of
# it (the unit's SupplementaryGroups=) can read the journal back.
if getent group systemd-journal >/dev/null; then
    chgrp systemd-journal /run/log/journal /var/log/journal && chmod 2755 /run/log/journal /var/log/journal
fi
# A journald.conf of the caller's (the benchmarks lift the rate limit), for this namespace only.
if [ -n "${GARAGE_PXE_JOURNALD_CONF:-}" ]; then
    mount --bind "$GARAGE_PXE_JOURNALD_CONF" /etc/systemd/journald.conf || { echo "cannot use $GARAGE_PXE_JOURNALD_CONF"; exit 92; }
fi
/lib/systemd/systemd-journald >/dev/null 2>&1 &
journald=$!
# For tests that stop and restart journald (JournaldRestartTests): they may stop this PID.
export GARAGE_PXE_JOURNALD_PID=$journald
for _ in $(seq 1 1200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
if [ ! -S /run/systemd/journal/socket ]; then echo "private journald did not start"; kill "$journald"; exit 91; fi
"$@"
status=$?
kill "$journald"
wait "$journald" 2>/dev/null
exit "$status"
