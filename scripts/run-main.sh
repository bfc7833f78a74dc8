#!/usr/bin/env bash
# The main job: install what is needed, build, and run `gsperf analyze` on
# a default input every machine has — this project's own source tree (C,
# with include/ on the include path) — writing the code graph to
# build/gsperf-self.db and printing the report.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/deps.sh"
bash "$here/scripts/build.sh" "$here/build" -DGSP_BUILD_TESTS=OFF
echo "run: build/gsperf analyze $here -I include --db build/gsperf-self.db"
"$here/build/gsperf" analyze "$here" -I include --db "$here/build/gsperf-self.db"
