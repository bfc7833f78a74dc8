#!/bin/sh
# `mpirun -np 3 gsperf analyze --distributed` with the result cache, on a
# copy of the fixture: a cold distributed run farms every file out (ranks
# 1 and 2 parse) and fills rank 0's cache; a warm distributed run parses
# nothing and farms nothing; after one file changes, exactly that file is
# farmed out. Every database equals the single-process run's byte for byte,
# and the cache a distributed run filled serves a local run (same keys).
# usage: cli_distributed_cache.sh GSPERF MPIRUN FIXTURE WORKDIR
set -eu
gsperf=$1 mpirun=$2 fixture=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
cp -R "$fixture" "$work/tree"
export XDG_CACHE_HOME="$work/xdg"
fail() { echo "cli_distributed_cache: $*" >&2; exit 1; }
local_run() { # CACHE_DIR DB
  "$gsperf" analyze "$work/tree" --cache-dir "$1" --db "$2" -I c/include --top 3 \
    > "$work/out" 2> "$work/err" || fail "local run failed: $(cat "$work/err")"
}
dist_run() { # CACHE_DIR DB
  "$mpirun" -np 3 --oversubscribe --allow-run-as-root --mca btl self,vader \
    "$gsperf" analyze "$work/tree" --distributed --cache-dir "$1" --db "$2" -I c/include \
    --top 3 > "$work/out" 2> "$work/err" || fail "mpirun run failed: $(cat "$work/err")"
  grep -q 'MB/s on 2 parse ranks' "$work/out" || fail "not farmed: $(cat "$work/out")"
}
cache_line() { grep -q "^  cache        $1\$" "$work/out" || fail "want cache line '$1': $(cat "$work/out")"; }

local_run "$work/local-cache" "$work/local.db"
cache_line '17 parsed, 0 from the cache (0.0%); resolution computed'

dist_run "$work/dist-cache" "$work/cold.db"
cache_line '17 parsed, 0 from the cache (0.0%); resolution computed'
cmp "$work/local.db" "$work/cold.db" || fail "cold distributed database differs from the local one"

dist_run "$work/dist-cache" "$work/warm.db"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'
cmp "$work/local.db" "$work/warm.db" || fail "warm distributed database differs from the local one"

# the distributed run's cache entries are the local run's
local_run "$work/dist-cache" "$work/local2.db"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'

# one file changed: only it is farmed out, and the graph has its change
printf '\nint util_extra(int x) { return util_add(x, 1); }\n' >> "$work/tree/c/util.c"
local_run "$work/local-cache" "$work/local-changed.db"
dist_run "$work/dist-cache" "$work/changed.db"
cache_line '1 parsed, 16 from the cache (94.1%); resolution computed'
cmp "$work/local-changed.db" "$work/changed.db" || fail "changed-file database differs"
[ "$(sqlite3 "$work/changed.db" "SELECT count(*) FROM symbols WHERE name = 'util_extra'")" = 1 ] ||
  fail "the changed file's new function is not in the graph"
echo "cli_distributed_cache: ok"
