#!/bin/sh
# wrk_load.sh - load test of /metrics over loopback, run by ctest as
#   sh wrk_load.sh GSPERF WORKDIR
# Starts `gsperf serve` on an ephemeral loopback port, runs
#   wrk -t2 -c16 -d10s --latency http://127.0.0.1:PORT/metrics
# and fails on any socket error, any non-2xx response or zero requests.
# Prints requests/s and p99. The server is stopped on every outcome.
# Skipped (77) when wrk is not installed.
set -u
gsperf=$1 work=$2
command -v wrk > /dev/null 2>&1 || { echo "SKIP: wrk not installed (deps/apt-packages.txt)"; exit 77; }
rm -rf "$work" && mkdir -p "$work"
pid=""
stop() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    pid=""
  fi
}
trap stop EXIT
trap 'stop; exit 1' INT TERM HUP
die() {
  echo "FAIL: $*"
  cat "$work/wrk.out" "$work/err" 2> /dev/null
  exit 1
}

"$gsperf" serve --listen 127.0.0.1:0 --port-file "$work/port" 2> "$work/err" &
pid=$!
i=0
while [ ! -s "$work/port" ]; do
  kill -0 "$pid" 2> /dev/null || die "gsperf serve exited early"
  i=$((i + 1))
  [ "$i" -le 100 ] || die "no port file after 10 s"
  sleep 0.1
done
port=$(cat "$work/port")
case $port in '' | *[!0-9]*) die "bad port '$port'" ;; esac

wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$port/metrics" > "$work/wrk.out" 2>&1 ||
  die "wrk exited $?"
kill -0 "$pid" 2> /dev/null || die "gsperf serve died under load"
cat "$work/wrk.out"

grep -q 'Socket errors' "$work/wrk.out" && die "socket errors"
grep -q 'Non-2xx or 3xx responses' "$work/wrk.out" && die "non-2xx responses"
reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || die "zero requests"
[ -n "$rps" ] && [ -n "$p99" ] || die "cannot read requests/s or p99 from wrk's output"
echo "load: $reqs requests, $rps requests/s, p99 $p99"
