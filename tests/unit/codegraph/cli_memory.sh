#!/bin/sh
# `gsperf analyze --memory aggressive` on a copy of the fixture: the same
# report and the same database file as the default run, cold and warm
# (its result cache parses nothing the second time); the engine's strategy
# is memory_optimized in the report; a bad value is a usage error.
# usage: cli_memory.sh GSPERF FIXTURE WORKDIR
set -eu
gsperf=$1 fixture=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cp -R "$fixture" "$work/tree"
fail() { echo "cli_memory: $*" >&2; exit 1; }
run() { # NAME ARGS...
  name=$1 && shift
  "$gsperf" analyze "$work/tree" --top 3 "$@" > "$work/$name.txt" 2> "$work/err" ||
    fail "analyze $* failed: $(cat "$work/err")"
}
head_of() { sed -n '/^  stages/q;p' "$work/$1.txt"; }

run default --cache-dir "$work/cache-default" --db "$work/default.db"
run cold --memory aggressive --cache-dir "$work/cache-aggr" --db "$work/cold.db"
run warm --memory aggressive --cache-dir "$work/cache-aggr" --db "$work/warm.db"
cmp "$work/default.db" "$work/cold.db" || fail "aggressive database differs from the default one"
cmp "$work/default.db" "$work/warm.db" || fail "warm aggressive database differs"
[ "$(head_of default)" = "$(head_of cold)" ] || fail "reports differ"
grep -q '^  cache        17 parsed, 0 from the cache' "$work/cold.txt" || fail "cold: $(cat "$work/cold.txt")"
grep -q '^  cache        0 parsed, 17 from the cache' "$work/warm.txt" || fail "warm: $(cat "$work/warm.txt")"
run json --memory aggressive --no-cache --json
grep -q '"strategy":"memory_optimized"' "$work/json.txt" || fail "engine strategy not memory_optimized"
run json_default --memory default --no-cache --json
grep -q '"strategy":"memory_optimized"' "$work/json_default.txt" && fail "default run is memory_optimized"
rc=0
"$gsperf" analyze "$work/tree" --memory lots > /dev/null 2> "$work/err" || rc=$?
[ "$rc" = 2 ] || fail "--memory lots: exit $rc, want 2"
grep -q "memory wants default or aggressive, got 'lots'" "$work/err" || fail "message: $(cat "$work/err")"
echo "cli_memory: ok"
