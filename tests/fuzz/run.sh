#!/bin/sh
# Build the libFuzzer targets (clang, build dir build-fuzz) and run each on
# its corpus, one at a time.
#
#   tests/fuzz/run.sh [SECONDS | RUNSr] [TARGET...]
#     SECONDS   time per target (-max_total_time), default 60
#     RUNSr     executions per target (-runs), e.g. 10000000r
#     TARGET    names like sshparam or fuzz_sshparam (default: all built)
#
# Environment: SG_FUZZ_BUILD (default <repo>/build-fuzz), SG_FUZZ_JOBS (2),
# SG_FUZZ_NICE (10), SG_FUZZ_ARGS (extra libFuzzer flags).
# New corpus entries go to $SG_FUZZ_BUILD/corpus/<name> (the committed seeds
# in tests/fuzz/corpus/<name> are read only); crashes to
# $SG_FUZZ_BUILD/artifacts/<name>/. Per-target logs: $SG_FUZZ_BUILD/logs/.
# Exit status: non-zero if any target found a crash.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${SG_FUZZ_BUILD:-$root/build-fuzz}
jobs=${SG_FUZZ_JOBS:-2}
nice_level=${SG_FUZZ_NICE:-10}

limit="-max_total_time=60"
if [ $# -gt 0 ]; then
  case "$1" in
    *r) limit="-runs=${1%r}"; shift ;;
    [0-9]*) limit="-max_total_time=$1"; shift ;;
  esac
fi

mkdir -p "$build"
CC=${CC:-clang} cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="${CC:-clang}" \
  -DSSHGATE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target fuzzers -j"$jobs"

list="$build/tests/fuzz/fuzzers.txt"
[ -f "$list" ] || list="$build/fuzzers.txt"   # configured without tests
if [ $# -gt 0 ]; then
  targets=""
  for t in "$@"; do targets="$targets ${t#fuzz_}"; done
else
  targets=$(cut -d' ' -f1 "$list")
fi

mkdir -p "$build/logs"
status=0
for short in $targets; do
  t=fuzz_$short
  bin=$(awk -v n="$short" '$1 == n { print $2 }' "$list")
  [ -n "$bin" ] && [ -x "$bin" ] || { echo "run.sh: $t not built" >&2; status=1; continue; }
  work="$build/corpus/$short"; art="$build/artifacts/$short"
  mkdir -p "$work" "$art"
  seeds="$here/corpus/$short"; [ -d "$seeds" ] || seeds=""
  dict=""; [ -f "$here/$short.dict" ] && dict="-dict=$here/$short.dict"
  log="$build/logs/$short.log"
  echo "== $t ($limit)"
  # shellcheck disable=SC2086
  if nice -n "$nice_level" "$bin" $limit -print_final_stats=1 -artifact_prefix="$art/" \
      $dict ${SG_FUZZ_ARGS:-} "$work" $seeds >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || tail -n 3 "$log"
  else
    echo "!! $t: finding (see $log, artifacts in $art)"; tail -n 30 "$log"; status=1
  fi
done
exit $status
