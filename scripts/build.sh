#!/usr/bin/env bash
# Configure and build gsperf into a build directory.
# usage: scripts/build.sh BUILD_DIR [extra cmake args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/build.sh BUILD_DIR [cmake args]}
shift
echo "build: cmake -S $here -B $build $*"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" > "$build.cmake.log" 2>&1 ||
  { cat "$build.cmake.log"; exit 1; }
echo "build: cmake --build $build -j $(nproc)"
rc=0
cmake --build "$build" -j "$(nproc)" > "$build.build.log" 2>&1 || rc=$?
grep -v -e '^\[ *[0-9]*%\]' -e '^gmake' "$build.build.log" || true
if [ "$rc" -ne 0 ]; then echo "build: FAILED (log: $build.build.log)"; exit "$rc"; fi
echo "build: ok"
