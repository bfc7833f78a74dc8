#!/bin/sh
# serve_cli.sh - end-to-end checks of `gsperf serve`, run by ctest as
#   sh serve_cli.sh GSPERF HTTP_GET WORKDIR CASE
# Cases: serve (port 0 + --port-file, GET /healthz and /metrics with a
# token, SIGTERM, exit 0), badflag (exit 2 naming the flag), badrules
# (exit 1 naming the file and the field), report (--report FILE: the file's
# JSON at /api/v1/report; a file made bad meanwhile is a 503 naming it and
# a line on stderr; a good one again is served again; without --report the
# route is 404), badreport (not a report, or absent, at start: exit 1
# naming the file).
set -u
gsperf=$1 client=$2 work=$3 case=$4
rm -rf "$work" && mkdir -p "$work"
pid=
# On failure also stop a server still running, so ctest is not left
# waiting on its output.
die() {
  echo "FAIL: $*"; cat "$work/err" 2>/dev/null
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  exit 1
}

case $case in
serve)
  "$gsperf" serve --listen 127.0.0.1:0 --port-file "$work/port" --token tok \
    --interval 50 2> "$work/err" &
  pid=$!
  "$client" "$work/port" /healthz tok > "$work/h" || die "no answer on /healthz"
  head -n1 "$work/h" | grep -qx 200 || die "/healthz: $(cat "$work/h")"
  # a collector value is exposed once the first sample has it (absent values
  # are left out rather than shown as 0): ask until it is there
  tries=0
  while :; do
    "$client" "$work/port" /metrics tok > "$work/m" || die "no answer on /metrics"
    grep -q '^gsp_process_resident_bytes ' "$work/m" && break
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || die "/metrics lacks the collector: $(cat "$work/m")"
    sleep 0.1
  done
  "$client" "$work/port" /metrics > "$work/u" || die "no answer without token"
  head -n1 "$work/u" | grep -qx 401 || die "no token: $(head -n1 "$work/u")"
  kill -TERM "$pid"
  wait "$pid"; rc=$?
  [ "$rc" -eq 0 ] || die "exit $rc after SIGTERM"
  grep -q "serving http://127.0.0.1:$(cat "$work/port")/metrics" "$work/err" || die "no URL on stderr"
  ;;
badflag)
  for args in "--listen nowhere" "--listen 127.0.0.1:70000" "--interval 0" "--frob x" "--token" \
      "--rate abc" "--rate 5/0"; do
    # shellcheck disable=SC2086
    "$gsperf" serve $args 2> "$work/err"; rc=$?
    [ "$rc" -eq 2 ] || die "serve $args: exit $rc, want 2"
    flag=${args%% *}
    grep -q -- "$flag" "$work/err" || die "serve $args: stderr does not name $flag"
  done
  "$gsperf" serve --listen localhost:1 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "a non-literal address: exit $rc, want 1"
  ;;
badrules)
  printf '[{"name": "hot", "metric": "gsp_process_cpu_percent", "comparison": "~"}]' > "$work/r.json"
  "$gsperf" serve --listen 127.0.0.1:0 --rules "$work/r.json" 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "bad rules: exit $rc, want 1"
  grep -q "r.json" "$work/err" || die "error does not name the file"
  grep -q "comparison" "$work/err" || die "error does not name the field"
  ;;
report)
  fixture=$(dirname "$0")/../../browser/report.json
  cp "$fixture" "$work/r.json"
  "$gsperf" serve --listen 127.0.0.1:0 --port-file "$work/port" --report "$work/r.json" \
    2> "$work/err" &
  pid=$!
  "$client" "$work/port" /api/v1/report > "$work/a" || die "no answer on /api/v1/report"
  head -n1 "$work/a" | grep -qx 200 || die "/api/v1/report: $(head -c 300 "$work/a")"
  grep -q '"browser-fixture"' "$work/a" || die "not the file's report"
  printf '{"schema": "something.else"}' > "$work/r.tmp" && mv "$work/r.tmp" "$work/r.json"
  "$client" "$work/port" /api/v1/report > "$work/b" || die "no answer after the change"
  head -n1 "$work/b" | grep -qx 503 || die "bad file: $(head -c 300 "$work/b")"
  grep -q "r.json" "$work/b" || die "the 503 does not name the file: $(cat "$work/b")"
  grep -q "r.json" "$work/err" || die "stderr does not name the bad file"
  sed 's/browser-fixture/second-version/' "$fixture" > "$work/r.tmp" && mv "$work/r.tmp" "$work/r.json"
  "$client" "$work/port" /api/v1/report > "$work/c" || die "no answer after the fix"
  head -n1 "$work/c" | grep -qx 200 || die "good again: $(head -c 300 "$work/c")"
  grep -q '"second-version"' "$work/c" || die "the new file is not served"
  rm "$work/r.json"
  "$client" "$work/port" /api/v1/report > "$work/d" || die "no answer after the removal"
  head -n1 "$work/d" | grep -qx 503 || die "removed file: $(head -c 300 "$work/d")"
  kill -TERM "$pid"
  wait "$pid"; rc=$?
  pid=
  [ "$rc" -eq 0 ] || die "exit $rc after SIGTERM"
  "$gsperf" serve --listen 127.0.0.1:0 --port-file "$work/port2" 2> "$work/err2" &
  pid=$!
  "$client" "$work/port2" /api/v1/report > "$work/e" || die "no answer without --report"
  head -n1 "$work/e" | grep -qx 404 || die "without --report: $(head -n1 "$work/e")"
  kill -TERM "$pid"
  wait "$pid"
  ;;
badreport)
  printf '{"not": "a report"}' > "$work/bad.json"
  "$gsperf" serve --listen 127.0.0.1:0 --report "$work/bad.json" 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "bad report: exit $rc, want 1"
  grep -q "bad.json" "$work/err" || die "error does not name the file"
  "$gsperf" serve --listen 127.0.0.1:0 --report "$work/absent.json" 2> "$work/err"; rc=$?
  [ "$rc" -eq 1 ] || die "absent report: exit $rc, want 1"
  grep -q "absent.json" "$work/err" || die "error does not name the absent file"
  ;;
*) die "unknown case $case" ;;
esac
echo "ok: $case"
