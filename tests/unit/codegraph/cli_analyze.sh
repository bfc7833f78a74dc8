#!/bin/sh
# End-to-end: `gsperf analyze` on the fixture writes a database that
# `gsperf query` answers from; bad usage exits 2, a missing tree or file 1.
# usage: cli_analyze.sh GSPERF FIXTURE WORKDIR
set -eu
gsperf=$1 fixture=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
export XDG_CACHE_HOME="$work/xdg" # the cache goes there, not into $HOME
fail() { echo "cli_analyze: $*" >&2; exit 1; }
expect_rc() { want=$1; shift; rc=0; "$@" > "$work/out" 2> "$work/err" || rc=$?;
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want: $(cat "$work/err")"; }

expect_rc 0 "$gsperf" analyze "$fixture" --db "$work/g.db" --jobs 2 --top 1
grep -q '^  files        17 (c 10, python 7, js 0, ts 0, json 0; 2 with syntax errors, 0 skipped)$' "$work/out" ||
  fail "report: $(cat "$work/out")"
grep -q '^  cycles       2 (4 files)$' "$work/out" || fail "cycles line missing"
grep -q '^         5  c/util.h$' "$work/out" || fail "top depended-on file missing"
grep -q '^  unresolved   3 distinct specifiers; most imported: missing.h (1), stdio.h (1), os (1)$' \
  "$work/out" || fail "unresolved line missing: $(cat "$work/out")"
expect_rc 0 "$gsperf" query "$work/g.db" deps c/main.c
printf 'c/lib/list.h\t3\tlib/list.h\nc/util.h\t2\tutil.h\n' | cmp -s - "$work/out" ||
  fail "deps: $(cat "$work/out")"
expect_rc 0 "$gsperf" query "$work/g.db" callers util_add --json
grep -q '"path": "c/main.c", "line": 11, "caller": "main", "target": "c/util.h"' "$work/out" ||
  fail "callers --json: $(cat "$work/out")"
expect_rc 0 "$gsperf" analyze "$fixture" --json
grep -q '"files": 17' "$work/out" || fail "--json: $(cat "$work/out")"
grep -q '{"module": "os", "lang": "python", "count": 1, "first_file": "py/app.py"}' "$work/out" ||
  fail "--json unresolved_top: $(cat "$work/out")"

expect_rc 2 "$gsperf" analyze --bogus
# --distributed without mpirun: a local run, the same database
expect_rc 0 "$gsperf" analyze "$fixture" --no-cache --db "$work/local.db"
expect_rc 0 "$gsperf" analyze "$fixture" --distributed --no-cache --db "$work/dist1.db"
cmp -s "$work/local.db" "$work/dist1.db" || fail "--distributed (local): database differs"
grep -q 'MB/s on [0-9]* workers' "$work/out" || fail "--distributed (local): $(cat "$work/out")"
expect_rc 2 "$gsperf" analyze "$fixture" --serve-linger x
expect_rc 2 "$gsperf" analyze "$fixture" --jobs 0
expect_rc 1 "$gsperf" analyze "$work/nonexistent"
expect_rc 1 "$gsperf" query "$work/g.db" rdeps no/such.h
expect_rc 1 "$gsperf" query "$fixture/c/util.h" cycles
expect_rc 2 "$gsperf" query "$work/g.db" frobnicate
echo "cli_analyze: ok"
