#!/bin/sh
# `gsperf` maps only the libraries a run uses, as the dynamic loader
# reports them (LD_DEBUG=files lists every object loaded, at start or by
# dlopen): a plain `gsperf analyze` maps neither libmicrohttpd (nor GnuTLS)
# nor the dist library and Open MPI; `--serve` loads libmicrohttpd and
# serves; with MPIRUN given (a build with the dist library), `--distributed`
# loads libgsperf_dist and libmpi and still runs, and a missing dist library
# is a clear error naming it.
# usage: cli_lazy.sh GSPERF FIXTURE WORKDIR [MPIRUN]
set -eu
gsperf=$1 fixture=$2 work=$3 mpirun=${4:-}
rm -rf "$work" && mkdir -p "$work"
fail() { echo "cli_lazy: $*" >&2; exit 1; }
# loaded NAME: the objects the run of ld.* loaded, one "file=" line each
loaded() { cat "$work/$1".* | grep -ao 'file=[^ ]*' | sort -u; }

LD_DEBUG=files LD_DEBUG_OUTPUT="$work/plain" "$gsperf" analyze "$fixture" --no-cache \
  --db "$work/plain.db" > "$work/plain.out" 2> "$work/plain.err" ||
  fail "plain analyze failed: $(cat "$work/plain.err")"
loaded plain > "$work/plain.libs"
grep -q '^file=libsqlite3' "$work/plain.libs" || fail "LD_DEBUG lists no libsqlite3: $(cat "$work/plain.libs")"
for lib in libmicrohttpd libgnutls libmpi libopen-pal libgsperf_dist; do
  if grep -q "^file=.*$lib" "$work/plain.libs"; then fail "a plain analyze loads $lib"; fi
done

LD_DEBUG=files LD_DEBUG_OUTPUT="$work/serve" "$gsperf" analyze "$fixture" --no-cache \
  --db "$work/serve.db" --serve 127.0.0.1:0 --port-file "$work/port" --serve-linger 3 \
  > "$work/serve.out" 2> "$work/serve.err" &
pid=$!
i=0
until grep -q '^  memory peak' "$work/serve.out" 2> /dev/null; do
  i=$((i + 1)); [ $i -lt 300 ] || { kill $pid; fail "--serve: no report: $(cat "$work/serve.err")"; }
  sleep 0.1
done
body=$(curl -sf "http://127.0.0.1:$(cat "$work/port")/healthz") || { kill $pid; fail "GET /healthz failed"; }
wait $pid || fail "--serve: analyze exited $?: $(cat "$work/serve.err")"
[ "$body" = ok ] || fail "/healthz said '$body'"
loaded serve > "$work/serve.libs"
grep -q '^file=libmicrohttpd.so' "$work/serve.libs" || fail "--serve did not load libmicrohttpd"
if grep -q '^file=.*libmpi' "$work/serve.libs"; then fail "--serve loads libmpi"; fi

[ -n "$mpirun" ] || { echo "cli_lazy: ok (no dist library)"; exit 0; }
LD_DEBUG=files LD_DEBUG_OUTPUT="$work/dist" "$gsperf" analyze "$fixture" --no-cache \
  --db "$work/dist.db" --distributed > "$work/dist.out" 2> "$work/dist.err" ||
  fail "--distributed (one rank) failed: $(cat "$work/dist.err")"
grep -q '^  memory peak' "$work/dist.out" || fail "--distributed: no report"
loaded dist > "$work/dist.libs"
grep -q '^file=.*libgsperf_dist.so' "$work/dist.libs" || fail "--distributed did not load libgsperf_dist"
grep -q '^file=libmpi.so' "$work/dist.libs" || fail "--distributed did not load libmpi"

rc=0
GSPERF_DIST_LIBRARY="$work/none/libgsperf_dist.so.0" "$gsperf" analyze "$fixture" --no-cache \
  --db "$work/none.db" --distributed > "$work/none.out" 2> "$work/none.err" || rc=$?
[ "$rc" -eq 1 ] || fail "missing dist library: rc $rc"
grep -q "cannot load $work/none/libgsperf_dist.so.0: .*No such file" "$work/none.err" ||
  fail "missing dist library: $(cat "$work/none.err")"
echo "cli_lazy: ok"
