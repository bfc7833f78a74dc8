#!/bin/sh
# End-to-end: `gsperf analyze --serve` serves the run's metrics (every
# stage, the result store's levels) while it runs and lingers; `--profile`
# writes the CPU profile's files; a bad --serve address exits 1.
# usage: cli_serve.sh GSPERF FIXTURE WORKDIR
set -eu
gsperf=$1 fixture=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail() { echo "cli_serve: $*" >&2; exit 1; }
"$gsperf" analyze "$fixture" --cache-dir "$work/cache" --serve 127.0.0.1:0 \
  --port-file "$work/port" --serve-linger 4 --profile "$work/prof" > "$work/out" 2> "$work/err" &
pid=$!
i=0
until grep -q '^  memory peak' "$work/out" 2> /dev/null; do
  i=$((i + 1)); [ $i -lt 300 ] || { kill $pid; fail "no report: $(cat "$work/err")"; }
  sleep 0.1
done
port=$(cat "$work/port")
curl -sf "http://127.0.0.1:$port/metrics" > "$work/metrics" || { kill $pid; fail "GET /metrics failed"; }
curl -sf "http://127.0.0.1:$port/" > "$work/index" || { kill $pid; fail "GET / failed"; }
curl -sf "http://127.0.0.1:$port/api/v1/report" > "$work/report.json" ||
  { kill $pid; fail "GET /api/v1/report failed"; }
wait $pid || fail "analyze exited $?: $(cat "$work/err")"
grep -q '^gsperf_function_calls_total{function="optimize_parsing"} 17$' "$work/metrics" ||
  fail "parsing calls missing: $(grep optimize_parsing "$work/metrics" | head -3)"
grep -q '^gsperf_function_cache_misses_total{function="optimize_parsing"} 17$' "$work/metrics" ||
  fail "parsing misses missing"
grep -q '^gsperf_function_duration_seconds_count{function="optimize_file_ops"} 17$' "$work/metrics" ||
  fail "file_ops histogram missing"
grep -q '^gsperf_analyze_cache_lookups{level="l3"}' "$work/metrics" || fail "cache level gauges missing"
grep -q '"cache_stats"' "$work/report.json" && grep -q '"optimize_parsing"' "$work/report.json" ||
  fail "/api/v1/report is not the engine's report: $(head -c 300 "$work/report.json")"
grep -q 'dashboard http://127.0.0.1:' "$work/err" || fail "no URL printed: $(cat "$work/err")"
for f in cpu.pb.gz cpu.collapsed flame.svg report.txt; do # (a short run may have no sample)
  [ -f "$work/prof/$f" ] || fail "--profile: $f missing"
done
grep -q '^CPU samples: ' "$work/prof/report.txt" || fail "--profile: report.txt: $(head -2 "$work/prof/report.txt")"
# The optimization report shows the attached profile (a short run may have no sample).
grep -q '^profiler (' "$work/out" || fail "--profile: the report has no profiler part: $(grep -i profiler "$work/out")"
rc=0; "$gsperf" analyze "$fixture" --no-cache --serve 'not an address:x' > "$work/out" 2> "$work/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q -- '--serve' "$work/err" || fail "bad --serve: rc $rc: $(cat "$work/err")"
echo "cli_serve: ok"
