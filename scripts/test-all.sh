#!/usr/bin/env bash
# `make test`: every phase runs, even after an earlier one failed; each ends with a summary
# line (passed/failed, counts, time); the run ends with one verdict line, `N passed, N
# failed`, and exits non-zero if anything failed, was skipped, or did not run.
#
# Phases, in this order (why apart: see the Makefile's `test` target):
#   build             swift build --build-tests
#   unit+clients      every suite but BootHTTPTests and EndToEndTests
#   http              BootHTTPTests
#   end-to-end        EndToEndTests (QEMU firmware, the Debian installer)
#   package           make deb (release build, man page, lintian). Its release build starts
#                     when the build phase ends, in the background at the lowest CPU and
#                     I/O priority and in its own folder (.build-release; SwiftPM locks
#                     .build while tests run): it takes the CPU the tests leave idle, and
#                     the package phase waits for it.
#   package-in-systemd  PackageTests: that .deb installed with apt in a booted systemd
#                     (systemd-nspawn), started and reloaded with systemctl
#   packaging-checks  scripts/check-packaging.sh
#
# Inside `make test` nothing may be skipped: the packages are installed and the run is
# root, so a test reported as skipped means a precondition went missing, and counts as a
# failure. TEST_PHASES="http end-to-end" runs a subset (the others are listed as not run).
set -u
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  # Network namespaces, private journald mounts and QEMU taps need root.
  if command -v sudo >/dev/null; then exec sudo --preserve-env=PATH,SWIFT,TEST_PHASES,CI "$0" "$@"; fi
  echo "make test needs root (network namespaces, mounts) and sudo is not installed" >&2
  exit 1
fi

SWIFT=${SWIFT:-swift}
phases=${TEST_PHASES:-build unit+clients http end-to-end package package-in-systemd packaging-checks}
results=$(mktemp -d /tmp/garage-pxe-test.XXXXXX)

total_passed=0
total_failed=0
summary=()

# record NAME STATUS PASSED FAILED SKIPPED SECONDS NOTE
record() {
  local name=$1 status=$2 passed=$3 failed=$4 skipped=$5 seconds=$6 note=${7:-}
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed + skipped))
  local line
  line=$(printf '%-17s %-7s %4d passed, %d failed, %d skipped  %5ds' "$name" "$status" "$passed" "$failed" "$skipped" "$seconds")
  [ -n "$note" ] && line="$line  ($note)"
  summary+=("$line")
  echo "== phase $line"
}

# Counts from Swift Testing's JUnit XML: tests, failures, skipped.
xunit_counts() {
  python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
suites = ET.parse(sys.argv[1]).getroot().iter("testsuite")
tests = failures = skipped = 0
for s in suites:
    tests += int(s.get("tests", 0)); failures += int(s.get("failures", 0)) + int(s.get("errors", 0))
    skipped += int(s.get("skipped", 0))
print(tests, failures, skipped)
PY
}

built=1
# The package phase's release build, started early (see the top); its PID while it runs.
release_scratch=.build-release
release_log="$results/release-build.log"
release_pid=""
# In a process group of its own (setsid), so that a run cut short stops the compilers too.
stop_release_build() { [ -n "$release_pid" ] && kill -- -"$release_pid" 2>/dev/null; rm -rf "$results"; }
trap stop_release_build EXIT
start_release_build() {
  case " $phases " in *" package "*) ;; *) return 0 ;; esac
  echo "== release build for the package phase: started in the background ($release_scratch, nice 19)"
  setsid nice -n 19 ionice -c 3 make --no-print-directory release RELEASE_SCRATCH="$release_scratch" >"$release_log" 2>&1 &
  release_pid=$!
}
# swift_phase NAME SWIFT-TEST-ARGUMENTS...
swift_phase() {
  local name=$1 start=$SECONDS
  shift
  if [ "$built" -ne 1 ]; then
    record "$name" FAILED 0 1 0 0 "not run: the build failed"
    return
  fi
  local xml="$results/$name.xml"
  "$SWIFT" test --skip-build --xunit-output "$xml" "$@"
  local rc=$?
  local seconds=$((SECONDS - start))
  local counts="$results/$name-swift-testing.xml"
  if [ ! -s "$counts" ]; then
    # The runner died before writing its report (a crash, a signal).
    record "$name" FAILED 0 1 0 "$seconds" "swift test exited $rc without a report"
    return
  fi
  local tests failures skipped
  read -r tests failures skipped < <(xunit_counts "$counts")
  local passed=$((tests - failures - skipped))
  if [ "$rc" -ne 0 ] && [ "$failures" -eq 0 ]; then failures=1; fi  # a failure outside any test
  if [ "$tests" -eq 0 ]; then
    record "$name" FAILED 0 1 0 "$seconds" "no test ran"
  elif [ "$failures" -gt 0 ] || [ "$skipped" -gt 0 ]; then
    record "$name" FAILED "$passed" "$failures" "$skipped" "$seconds" "$([ "$skipped" -gt 0 ] && echo "a skipped test means a missing precondition")"
  else
    record "$name" passed "$passed" 0 0 "$seconds"
  fi
}

run_phase() {
  local name=$1
  case "$name" in
    build)
      local start=$SECONDS
      if "$SWIFT" build --build-tests; then
        record build passed 1 0 0 $((SECONDS - start))
        start_release_build
      else
        built=0
        record build FAILED 0 1 0 $((SECONDS - start))
      fi
      ;;
    unit+clients) swift_phase "$name" --skip BootHTTPTests --skip EndToEndTests --skip PackageTests ;;
    http) swift_phase "$name" --filter BootHTTPTests ;;
    end-to-end) swift_phase "$name" --filter EndToEndTests ;;
    # Needs the .deb the package phase builds.
    package-in-systemd) swift_phase "$name" --filter PackageTests ;;
    package)
      local start=$SECONDS
      if [ -n "$release_pid" ]; then
        # Ends on its own (a compile); if it failed, make deb below builds again and says why.
        wait "$release_pid"
        echo "== release build (background) exited $?, its last lines:"
        tail -n 3 "$release_log"
        release_pid=""
      fi
      if make --no-print-directory deb RELEASE_SCRATCH="$release_scratch"; then record package passed 1 0 0 $((SECONDS - start))
      else record package FAILED 0 1 0 $((SECONDS - start)); fi
      ;;
    packaging-checks)
      local start=$SECONDS out="$results/packaging.out"
      BINARY="$release_scratch/release/garage-pxe" bash scripts/check-packaging.sh 2>&1 | tee "$out"
      local rc=${PIPESTATUS[0]} line passed failed
      line=$(grep -E '^packaging: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
      passed=$(echo "$line" | awk '{print $2}')
      failed=$(echo "$line" | awk '{print $4}')
      if [ -z "$line" ]; then
        record "$name" FAILED 0 1 0 $((SECONDS - start)) "exited $rc without its count"
      elif [ "$rc" -ne 0 ] || [ "$failed" -gt 0 ]; then
        [ "$failed" -gt 0 ] || failed=1
        record "$name" FAILED "$passed" "$failed" 0 $((SECONDS - start))
      else
        record "$name" passed "$passed" 0 0 $((SECONDS - start))
      fi
      ;;
    *) echo "unknown phase $name" >&2; record "$name" FAILED 0 1 0 0 "unknown phase" ;;
  esac
}

start_all=$SECONDS
for phase in $phases; do
  echo "== phase $phase: starting"
  run_phase "$phase"
done

echo
echo "== make test summary ($((SECONDS - start_all)) s)"
for line in "${summary[@]}"; do echo "   $line"; done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
