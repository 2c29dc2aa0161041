#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/Package.swift) with the fuzzer and AddressSanitizer,
# makes the seed corpora from the repository's captures and menus, runs each target for
# FUZZ_SECONDS and prints executions and crashes per target. Exit status 1 if any crashed;
# the crashing inputs stay under $SCRATCH/crashes/ (replay: $SCRATCH/release/TARGET FILE).
#
#   FUZZ_SECONDS=60 FUZZ_TARGETS="fuzz-dhcp fuzz-tftp" bash Fuzz/run.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-fuzz-dhcp fuzz-tftp fuzz-menu fuzz-http-query fuzz-syslog fuzz-tar}
scratch=${FUZZ_SCRATCH:-$repo/.build-sanitize/fuzz}
swift=${SWIFT:-swift}

# SwiftPM builds the dependencies (Yams, Mustache) with AddressSanitizer only: its
# fuzzer builds instrument with trace-pc-guard, which this toolchain's libFuzzer no longer
# reads, so the code under test is compiled by swiftc itself below.
"$swift" build --package-path "$repo/Fuzz" --scratch-path "$scratch" -c release --sanitize=address --target BootMenus
bin="$scratch/release"

# The code under test and the target's entry point, compiled as one module per target
# with -sanitize=fuzzer,address (coverage counters that libFuzzer reads).
direct() {
    local target=$1 extra=$2
    shift 2
    local tmp="$scratch/direct-src/$target"
    rm -rf "$tmp"
    mkdir -p "$tmp" "$scratch/direct"
    for f in "$@"; do
        sed -E '/^import (NetworkAddresses|FileJail|DHCP|UDP|TFTP|BootMenus|YAMLDiagnostics|InstallJournal|Images)$/d' "$f" >"$tmp/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    # shellcheck disable=SC2086
    swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name "${target//-/_}" $extra "$tmp"/*.swift \
        -o "$scratch/direct/$target" 2>&1 | grep -v "ld.gold: warning: Cannot export local symbol" || true
    [ -f "$scratch/direct/$target" ]
}
yams="-I $bin/Modules -Xcc -fmodule-map-file=$scratch/checkouts/Yams/Sources/CYaml/include/module.modulemap \
  $(ls "$bin"/Yams.build/*.o "$bin"/Mustache.build/*.o) $(find "$bin/CYaml.build" -name '*.o')"
direct fuzz-dhcp "-I $repo/Sources/CEpoll" "$repo"/Sources/NetworkAddresses/*.swift "$repo"/Sources/UDP/*.swift "$repo"/Sources/DHCP/*.swift "$repo/Fuzz/Sources/fuzz-dhcp/FuzzDHCP.swift"
direct fuzz-tftp "-I $repo/Sources/CEpoll" "$repo"/Sources/NetworkAddresses/*.swift "$repo"/Sources/FileJail/*.swift "$repo"/Sources/UDP/*.swift "$repo"/Sources/TFTP/*.swift "$repo/Fuzz/Sources/fuzz-tftp/FuzzTFTP.swift"
direct fuzz-menu "$yams" "$repo"/Sources/NetworkAddresses/*.swift "$repo"/Sources/YAMLDiagnostics/*.swift "$repo"/Sources/BootMenus/*.swift "$repo/Fuzz/Sources/fuzz-menu/FuzzMenu.swift"
direct fuzz-http-query "$yams" "$repo"/Sources/NetworkAddresses/*.swift "$repo"/Sources/YAMLDiagnostics/*.swift "$repo"/Sources/BootMenus/*.swift \
    "$repo/Fuzz/Sources/fuzz-http-query/FuzzHTTPQuery.swift"
# Only the pure parser of InstallJournal: the rest of the module needs libsystemd.
direct fuzz-syslog "" "$repo/Sources/InstallJournal/InstallerSyslog.swift" "$repo/Sources/InstallJournal/LogText.swift" "$repo/Fuzz/Sources/fuzz-syslog/FuzzSyslog.swift"
# The archive reader and zlib stream of the Debian import (Gzip.swift links zlib).
direct fuzz-tar "-I $repo/Sources/CZlib -lz" "$repo/Sources/Images/TarReader.swift" "$repo/Sources/Images/Gzip.swift" \
    "$repo/Fuzz/Sources/fuzz-tar/FuzzTar.swift"
bin="$scratch/direct"

rm -rf "$scratch/seeds"
python3 "$repo/Fuzz/make-corpus.py" "$repo" "$scratch/seeds"

declare -A max_len=([fuzz-dhcp]=9000 [fuzz-tftp]=4096 [fuzz-menu]=16384 [fuzz-http-query]=4096 [fuzz-syslog]=9000 [fuzz-tar]=16384)
status=0
summary=""
for target in $targets; do
    work="$scratch/corpus/$target"
    crashes="$scratch/crashes/$target"
    rm -rf "$crashes"  # what this run found; keep a finding under Tests/Fixtures/fuzz
    mkdir -p "$work" "$crashes"
    log="$scratch/$target.log"
    seeds="$scratch/seeds/$target"
    mkdir -p "$seeds"
    echo "== $target: ${seconds}s, seeds $(ls "$seeds" | wc -l)" >&2
    set +e
    "$bin/$target" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
        -max_len="${max_len[$target]:-4096}" -artifact_prefix="$crashes/" "$work" "$seeds" >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
    found=$(find "$crashes" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    [ "$rc" -eq 0 ] && [ "$found" -eq 0 ] || status=1
    summary+=$(printf '%-16s %10s runs %8s/s  cov %6s  corpus %5s  crashes %s  (exit %s)' \
        "$target" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$(ls "$work" | wc -l)" "$found" "$rc")$'\n'
done
echo
echo "fuzzing, ${seconds}s per target ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores):"
printf '%s' "$summary"
exit $status
