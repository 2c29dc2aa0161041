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
