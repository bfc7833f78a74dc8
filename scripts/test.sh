#!/usr/bin/env bash
# Install what is needed, build everything with tests, run all tests.
# usage: scripts/test.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-test}
shift || true
bash "$here/scripts/deps.sh"
bash "$here/scripts/build.sh" "$build" -DGSP_BUILD_TESTS=ON -DGSP_BUILD_EXAMPLES=ON \
  -DGSP_BUILD_BENCH=ON "$@"
echo "test: ctest --test-dir $build --output-on-failure -j $(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
