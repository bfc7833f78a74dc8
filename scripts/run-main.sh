#!/usr/bin/env bash
# The main job: install what is needed, build, and run `gsperf analyze` on
# a codebase every machine has after scripts/deps.sh: /usr/include (C
# headers, with the multiarch directory on the include path). The first run
# is cold (its result cache, build/analyze-cache, is emptied first); the
# second is warm: nothing changed, so nothing is parsed again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/deps.sh"
bash "$here/scripts/build.sh" "$here/build" -DGSP_BUILD_TESTS=OFF
cache="$here/build/analyze-cache"
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
args=(/usr/include -I "$multiarch" --cache-dir "$cache" --db "$here/build/usr-include.db")
echo "run: rm -rf build/analyze-cache (a cold first run)"
rm -rf "$cache"
for run in cold warm; do
  echo
  echo "run ($run): build/gsperf analyze ${args[*]}"
  "$here/build/gsperf" analyze "${args[@]}"
done
