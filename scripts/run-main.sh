#!/usr/bin/env bash
# The main job: install what is needed, build, and run gsperf on the
# default input. Until `gsperf analyze` exists this is `gsperf cachesim`
# on the bundled CloudPhysics trace: every strategy and Belady's bound.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/deps.sh"
bash "$here/scripts/build.sh" "$here/build" -DGSP_BUILD_TESTS=OFF
trace="$here/data/traces/cloudPhysicsIO.oracleGeneral.bin.zst"
echo "run: build/gsperf cachesim --ignore-size --strategies all $trace"
"$here/build/gsperf" cachesim --ignore-size --strategies all "$trace"
