#!/bin/sh
# `mpirun -np 3 gsperf analyze --distributed` on the fixture: ranks 1 and 2
# parse, rank 0 resolves and writes; the database must equal the
# single-process run's byte for byte, and the report the same counts.
# usage: cli_distributed.sh GSPERF MPIRUN FIXTURE WORKDIR
set -eu
gsperf=$1 mpirun=$2 fixture=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
export XDG_CACHE_HOME="$work/xdg"
fail() { echo "cli_distributed: $*" >&2; exit 1; }

"$gsperf" analyze "$fixture" --no-cache --db "$work/local.db" -I c/include --top 3 \
  > "$work/local.txt" || fail "local run failed"
"$mpirun" -np 3 --oversubscribe --allow-run-as-root --mca btl self,vader \
  "$gsperf" analyze "$fixture" --distributed --no-cache --db "$work/dist.db" -I c/include \
  --top 3 > "$work/dist.txt" 2> "$work/dist.err" ||
  fail "mpirun run failed: $(cat "$work/dist.err")"
cmp "$work/local.db" "$work/dist.db" || fail "databases differ"
grep -q 'MB/s on 2 parse ranks' "$work/dist.txt" || fail "not farmed: $(cat "$work/dist.txt")"
# the graph part of the report (everything before the timings) is the same
sed -n '/^  stages/q;p' "$work/local.txt" > "$work/local.head"
sed -n '/^  stages/q;p' "$work/dist.txt" > "$work/dist.head"
cmp "$work/local.head" "$work/dist.head" || fail "reports differ: $(diff "$work/local.head" "$work/dist.head")"
grep -q '^  files        17 ' "$work/dist.head" || fail "report: $(cat "$work/dist.head")"
# only rank 0 prints a report
[ "$(grep -c '^  files ' "$work/dist.txt")" -eq 1 ] || fail "more than one report"

# A C file that learns an annotation macro from the header it includes is
# farmed with the macro's name: the ranks parse it as a local run does, with
# the cache too (cold, then warm from the store), and g is a definition.
hm="$work/hm"
mkdir -p "$hm/src"
printf '#define API __attribute__((visibility("default")))\n' > "$hm/src/api.h"
printf '#include "api.h"\nint f(void) API;\nint g(int x) API { return x; }\nint h(void) { return g(1); }\n' \
  > "$hm/src/use.c"
"$gsperf" analyze "$hm" --no-cache --db "$work/hm-local.db" > /dev/null || fail "hm: local run failed"
for run in cold warm; do
  "$mpirun" -np 3 --oversubscribe --allow-run-as-root --mca btl self,vader \
    "$gsperf" analyze "$hm" --distributed --cache-dir "$work/hm-cache" --db "$work/hm-$run.db" \
    > "$work/hm-$run.txt" 2> "$work/hm.err" || fail "hm: mpirun $run run failed: $(cat "$work/hm.err")"
  cmp "$work/hm-local.db" "$work/hm-$run.db" || fail "hm: $run database differs from the local one"
done
"$gsperf" query "$work/hm-cold.db" symbol g | grep -q 'src/use.c' || fail "hm: g not defined"
grep -q '; 0 with syntax errors' "$work/hm-cold.txt" || fail "hm: syntax errors: $(cat "$work/hm-cold.txt")"
echo "cli_distributed: learned macros ok"
