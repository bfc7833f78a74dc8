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
echo "cli_distributed: ok"
