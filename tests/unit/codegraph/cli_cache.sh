#!/bin/sh
# End-to-end, across processes: `gsperf analyze --cache-dir` on a copy of
# the fixture. The second process parses nothing and reuses the resolution;
# its database equals the first one's; after one file changes, exactly that
# file is parsed again and the resolution is recomputed; --no-cache parses
# everything and leaves the cache alone.
# usage: cli_cache.sh GSPERF FIXTURE WORKDIR
set -eu
gsperf=$1 fixture=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
cp -R "$fixture" "$work/tree"
fail() { echo "cli_cache: $*" >&2; exit 1; }
run() { "$gsperf" analyze "$work/tree" --cache-dir "$work/cache" --jobs 2 "$@" > "$work/out" 2> "$work/err" ||
  fail "analyze $* failed: $(cat "$work/err")"; }
cache_line() { grep -q "^  cache        $1\$" "$work/out" || fail "want cache line '$1': $(cat "$work/out")"; }

run --db "$work/cold.db"
cache_line '17 parsed, 0 from the cache (0.0%); resolution computed'
run --db "$work/warm.db"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'
grep -q '^    L3 lmdb    hits 18 / 18 lookups reaching it (100.0%)' "$work/out" ||
  fail "warm run: L3 hits: $(cat "$work/out")"
sqlite3 "$work/cold.db" .dump > "$work/cold.sql"
sqlite3 "$work/warm.db" .dump > "$work/warm.sql"
cmp -s "$work/cold.sql" "$work/warm.sql" || fail "warm graph differs from cold graph"

printf '\nint util_extra(int x) { return util_add(x, 1); }\n' >> "$work/tree/c/util.c"
run --db "$work/changed.db"
cache_line '1 parsed, 16 from the cache (94.1%); resolution computed'
[ "$(sqlite3 "$work/changed.db" "SELECT count(*) FROM symbols WHERE name = 'util_extra'")" = 1 ] ||
  fail "the changed file's new function is not in the graph"
run --db "$work/changed.db"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'
grep -q 'changed.db: unchanged, inputs are the same' "$work/out" ||
  fail "an up-to-date database was rewritten: $(cat "$work/out")"
cp "$work/changed.db" "$work/before.db"
printf '\n# one more line\n' >> "$work/tree/py/app.py"
run --db "$work/changed.db"
cache_line '1 parsed, 16 from the cache (94.1%); resolution computed'
grep -q 'unchanged' "$work/out" && fail "a stale database was kept: $(cat "$work/out")"
cmp -s "$work/changed.db" "$work/before.db" && fail "the database was not rewritten"

# the stat index: once the files are older than the timestamp granularity,
# a warm run reads none of them; a damaged index is a warning naming it,
# and the run hashes every file and gets the same result
sleep 1
run
run
grep -q '^  stat index   17 files not read: device, inode, size and times as last run$' "$work/out" ||
  fail "stat index: $(cat "$work/out")"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'
idx=$(ls "$work/cache"/stat-*.idx)
printf 'XXXXXXXX' | dd of="$idx" bs=1 seek=24 conv=notrunc 2> /dev/null
run
grep -q "warning: $idx: stat index is .*; every file was read and hashed" "$work/err" || fail "damaged index: $(cat "$work/err")"
grep -q 'stat index' "$work/out" && fail "a damaged index was used: $(cat "$work/out")"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'
run
grep -q '^  stat index   17 files' "$work/out" || fail "index not rewritten: $(cat "$work/out")"
run --no-stat-index
grep -q 'stat index' "$work/out" && fail "--no-stat-index used it: $(cat "$work/out")"
cache_line '0 parsed, 17 from the cache (100.0%); resolution from the cache'

"$gsperf" analyze "$work/tree" --cache-dir "$work/cache" --no-cache > "$work/out" 2> "$work/err" ||
  fail "--no-cache failed: $(cat "$work/err")"
cache_line 'off: 17 parsed'

# the default directory comes from XDG_CACHE_HOME
XDG_CACHE_HOME="$work/xdg" "$gsperf" analyze "$work/tree" > "$work/out" 2> "$work/err" ||
  fail "default cache dir: $(cat "$work/err")"
[ -f "$work/xdg/gsperf/data.mdb" ] || fail "no cache in \$XDG_CACHE_HOME/gsperf"
# a cache directory that cannot be made is a clear failure (exit 1)
: > "$work/file"
rc=0; "$gsperf" analyze "$work/tree" --cache-dir "$work/file/sub" > "$work/out" 2> "$work/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'cache' "$work/err" || fail "bad cache dir: rc $rc: $(cat "$work/err")"
echo "cli_cache: ok"
