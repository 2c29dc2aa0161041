#!/usr/bin/env bash
# Runs a command (the e2e's garage-pxe) next to a private systemd-journald whose files land
# in DIR, so the test reads them with `garage-pxe history --directory DIR` and the host's
# journal never sees a test event. Call it under `unshare -m --propagation private`: the
# mounts below then hide the host's journal socket from everything started here (children
# of `ip netns exec` included) and vanish with the namespace.
# On TERM/INT: the command is stopped first (it flushes its events), then journald.
#
# Usage: unshare -m --propagation private journal-serve.sh DIR COMMAND...
set -u
dir="$1"
shift
mkdir -p "$dir" /run/systemd/journal /run/log/journal /var/log/journal
mount -t tmpfs tmpfs /run/systemd/journal || { echo "journal-serve: cannot mount tmpfs on /run/systemd/journal" >&2; exit 90; }
# Runtime storage (journald writes /run/log/journal until asked to flush) is the test's DIR;
# the persistent one is hidden so nothing is ever flushed to the host's /var/log/journal.
mount --bind "$dir" /run/log/journal || { echo "journal-serve: cannot bind $dir" >&2; exit 90; }
mount -t tmpfs tmpfs /var/log/journal || { echo "journal-serve: cannot mount tmpfs on /var/log/journal" >&2; exit 90; }
/lib/systemd/systemd-journald >/dev/null 2>&1 &
journald=$!
for _ in $(seq 1 1200); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.1; done
if [[ ! -S /run/systemd/journal/socket ]]; then
  echo "journal-serve: private journald did not start" >&2
  kill "$journald"
  exit 91
fi
"$@" &
child=$!
# For the caller's cleanup, should TERM never reach this script (a parent may hand it down
# ignored, which bash cannot trap): the PIDs to stop, each with its start time (field 22
# of /proc/PID/stat) so a PID reused by another process is never signalled.
for pid in "$child" "$journald"; do echo "$pid $(cut -d' ' -f22 "/proc/$pid/stat")"; done >"$dir.pids"
stop() { kill -TERM "$child" 2>/dev/null; }
trap stop TERM INT
status=0
# `wait` returns early when a trapped signal arrives: wait again (bounded) for the child.
for _ in $(seq 1 1200); do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
kill -KILL "$child" 2>/dev/null
# Have journald store the last datagrams the child sent before it stops: on SIGRTMIN+1 it
# first reads what is queued on its sockets (the sync runs at a lower priority than they
# do), then syncs and touches /run/systemd/journal/synced (bounded wait for that).
rm -f /run/systemd/journal/synced
kill -RTMIN+1 "$journald"
for _ in $(seq 1 600); do [[ -e /run/systemd/journal/synced ]] && break; sleep 0.1; done
[[ -e /run/systemd/journal/synced ]] || echo "journal-serve: journald did not confirm its sync" >&2
kill "$journald"
wait "$journald" 2>/dev/null
exit "$status"
