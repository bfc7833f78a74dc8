#!/usr/bin/env bash
# Checks the module layering that docs/architecture.md declares.
#
# The declared graph is the ```layers block of docs/architecture.md: one line
# per module, "module: dep dep ...". The actual graph is read from the code:
# module M depends on N when include/gsperf/M.h or a file under src/M/
# includes gsperf/N.h (version.h counts as common). The check fails when
#   - a module's code includes a header its line does not declare,
#   - a declared dependency is not used (the document would be stale),
#   - a file under src/M/ includes a private header ("x.h") that is not in
#     src/M/ (modules meet only at public headers),
#   - src/ includes the umbrella header gsperf/gsperf.h,
#   - the declared graph has a cycle (tsort), or a module is missing.
# Usage: bash scripts/check-layers.sh   (from anywhere; exit 0 when clean)
set -euo pipefail
cd "$(dirname "$0")/.."

doc=docs/architecture.md
declared=$(awk '/^```layers$/{on=1; next} /^```$/{on=0} on' "$doc")
if [ -z "$declared" ]; then
  echo "check-layers: $doc has no \`\`\`layers block" >&2
  exit 1
fi

fail=0
problem() { echo "check-layers: $*" >&2; fail=1; }

declared_deps() { # module -> its declared dependencies, one per line
  printf '%s\n' "$declared" | awk -v m="$1" -F: '$1 == m { print $2 }' | tr ' ' '\n' | sed '/^$/d' | sort -u
}

actual_deps() { # module -> the gsperf headers its code includes, as modules
  local m=$1 files=()
  [ -f "include/gsperf/$m.h" ] && files+=("include/gsperf/$m.h")
  while IFS= read -r f; do files+=("$f"); done < <(find "src/$m" -name '*.[ch]' | sort)
  grep -hoE '^[[:space:]]*#[[:space:]]*include [<"]gsperf/[a-z_]*\.h[>"]' "${files[@]}" |
    sed 's/.*gsperf\/\([a-z_]*\)\.h.*/\1/; s/^version$/common/' |
    grep -vx "$m" | sort -u || true
}

for dir in src/*/; do
  m=$(basename "$dir")
  if ! printf '%s\n' "$declared" | grep -q "^$m:"; then
    problem "module $m (src/$m) has no line in $doc"
    continue
  fi
  want=$(declared_deps "$m")
  have=$(actual_deps "$m")
  while IFS= read -r d; do
    [ -n "$d" ] || continue
    printf '%s\n' "$want" | grep -qx "$d" ||
      problem "$m includes gsperf/$d.h but $doc does not declare $m -> $d"
  done <<<"$have"
  while IFS= read -r d; do
    [ -n "$d" ] || continue
    printf '%s\n' "$have" | grep -qx "$d" ||
      problem "$doc declares $m -> $d but no file of $m includes gsperf/$d.h"
  done <<<"$want"
  while IFS=: read -r file _ inc; do
    name=$(printf '%s' "$inc" | sed 's/.*#include "\([^"]*\)".*/\1/')
    case "$name" in gsperf/*) continue ;; esac
    [[ "$name" != */* && -f "src/$m/$name" ]] ||
      problem "$file includes \"$name\", which is not a header of src/$m"
  done < <(grep -HnE '^[[:space:]]*#[[:space:]]*include "' "$dir"*.[ch] || true)
done

if grep -rln 'gsperf/gsperf\.h' src >/dev/null 2>&1; then
  problem "src includes the umbrella header: $(grep -rln 'gsperf/gsperf\.h' src | tr '\n' ' ')"
fi

edges=$(printf '%s\n' "$declared" | awk -F: '{ n = split($2, d, " "); for (i = 1; i <= n; i++) print $1, d[i]; print $1, $1 }')
if ! order=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || [ -n "$order" ]; then
  problem "the declared graph has a cycle: $order"
fi

if [ "$fail" -ne 0 ]; then exit 1; fi
echo "layers: $(printf '%s\n' "$declared" | wc -l) modules, every include matches $doc"
