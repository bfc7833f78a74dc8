#!/bin/sh
# profile_system.sh - children waited for inside the C library (system(),
# pclose()) under `gsperf profile`: the report shows how each ended
# (system("exit 3") -> 3, system("kill -TERM $$") -> SIGTERM, popen of a
# child exiting 5 / 4 -> 5 / 4, a missing command -> 127), no process is
# left without its status, and the program's own results (return values,
# SIGCHLD deliveries, its children's signal mask and ignored signals, its
# SIGINT disposition after a SIGINT sent during system()) are the same
# line for line as in a run without the profiler.
# usage: profile_system.sh GSPERF PROF_SYSTEM WORKDIR
set -u
gsperf=$1 prog=$2 work=$3
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
command -v jq > /dev/null || { echo "SKIP: jq not installed"; exit 77; }
"$prog" "$work/plain.txt" || fail "plain run: exit $?"
"$gsperf" profile --json -o "$work/out" -- "$prog" "$work/profiled.txt" > "$work/out.json"
rc=$?
cat "$work/plain.txt"; cat "$work/out/report.txt"
[ "$rc" = 0 ] || fail "gsperf profile: exit $rc, want 0 (the program's)"
diff "$work/plain.txt" "$work/profiled.txt" || fail "the program saw other results under the profiler"
grep -q '^exit 3: 768 ' "$work/plain.txt" || fail "system(\"exit 3\") did not return 768"
count() { # exit signal(null or N): how many children ended so
  jq --argjson e "$1" --argjson s "$2" \
    '[.processes[] | select(.comm != "prof_system" and .exit == $e and .signal == $s)] | length' \
    "$work/out.json"
}
[ "$(count 3 null)" = 1 ] || fail "want one shell that exited 3"
[ "$(count 143 15)" = 1 ] || fail "want one shell ended by SIGTERM"
[ "$(count 5 null)" = 1 ] || fail "want one popen child that exited 5"
[ "$(count 4 null)" = 1 ] || fail "want one popen child that exited 4"
[ "$(count 127 null)" = 1 ] || fail "want one shell that exited 127"
jq -e '.processes[] | select(.exit == null)' "$work/out.json" > /dev/null &&
  fail "a process without its exit status"
for t in 3 SIGTERM 5 4 127; do
  grep -Eq "^ +[0-9]+ .* $t  +- " "$work/out/report.txt" || fail "report.txt: no process shown ending '$t'"
done
echo PASS
