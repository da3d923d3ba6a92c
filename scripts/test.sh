#!/bin/sh
# Install what is missing, build, and run every test (unit, fuzz smoke,
# integration with real OpenSSH clients and slapd, bench smoke).
#   scripts/test.sh            normal build in ./build
#   scripts/test.sh --asan     ASan+UBSan build in ./build-asan
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
if [ "${1:-}" = --asan ]; then
  shift
  export BUILD_DIR=build-asan
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  scripts/build.sh -DSSHGATE_ASAN=ON -DSSHGATE_UBSAN=ON
else
  export BUILD_DIR=${BUILD_DIR:-build}
  scripts/build.sh
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j2 --timeout 300 "$@"
