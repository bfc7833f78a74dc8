#!/bin/sh
# report_cli.sh - `gsperf report` end to end, run by ctest as
#   sh report_cli.sh GSPERF REPORT_DEMO WORKDIR CASE
# Cases: render (a real report as text tables, and --json echoes it),
# stdin ('-'), badfile (not a report / not JSON / missing: exit 1 naming
# the file and the reason), usage (no FILE, unknown option: exit 2).
set -u
gsperf=$1 demo=$2 work=$3 case=$4
rm -rf "$work" && mkdir -p "$work"
die() { echo "FAIL: $*"; cat "$work/out" "$work/err" 2>/dev/null; exit 1; }

case $case in
render)
  "$demo" "$work/r.json" || die "report_demo failed"
  "$gsperf" report "$work/r.json" > "$work/out" 2> "$work/err" || die "exit $?"
  grep -q '^gsperf optimization report' "$work/out" || die "no header"
  grep -Eq '^  demo\.twice +balanced +5 +1 +0 +40\.0%' "$work/out" || die "function row"
  grep -Eq '^  default +L1 +lru +2 ' "$work/out" || die "cache row"
  grep -q 'system:' "$work/out" || die "no system memory line"
  "$gsperf" report --json "$work/r.json" > "$work/j" || die "--json exit $?"
  cmp -s "$work/j" "$work/r.json" || die "--json changed the text"
  ;;
stdin)
  "$demo" "$work/r.json" || die "report_demo failed"
  "$gsperf" report - < "$work/r.json" > "$work/out" 2> "$work/err" || die "exit $?"
  grep -q 'demo.twice' "$work/out" || die "no function from stdin"
  ;;
badfile)
  echo '{"hello": 1}' > "$work/x.json"
  "$gsperf" report "$work/x.json" > "$work/out" 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "not a report: exit $rc"
  grep -q "x.json: not an optimization report" "$work/err" || die "message: $(cat "$work/err")"
  echo '{"schema": ' > "$work/y.json"
  "$gsperf" report "$work/y.json" > "$work/out" 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "bad JSON: exit $rc"
  grep -q "y.json: line" "$work/err" || die "message: $(cat "$work/err")"
  "$gsperf" report "$work/missing.json" > "$work/out" 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "missing: exit $rc"
  grep -q "missing.json: cannot open" "$work/err" || die "message: $(cat "$work/err")"
  ;;
usage)
  "$gsperf" report > "$work/out" 2> "$work/err"; rc=$?
  [ "$rc" -eq 2 ] || die "no FILE: exit $rc"
  "$gsperf" report --frob x > "$work/out" 2> "$work/err"; rc=$?
  [ "$rc" -eq 2 ] || die "unknown option: exit $rc"
  grep -q -- "--frob" "$work/err" || die "option not named"
  "$gsperf" report --help > "$work/out" || die "--help exit $?"
  grep -q 'usage: gsperf report' "$work/out" || die "no usage"
  ;;
*) die "unknown case $case" ;;
esac
echo "report_cli $case: ok"
