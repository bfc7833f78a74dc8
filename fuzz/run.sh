#!/usr/bin/env bash
# Build and run the libFuzzer harness of the /api/v1/series query string.
# usage: fuzz/run.sh [SECONDS]   (default 20)
# Compiles fuzz/fuzz_series_params.c with the library sources it needs
# (src/http/params.c and, for gsp_metrics_check_name, src/metrics and
# src/common; not libmicrohttpd) under clang -fsanitize=fuzzer,address,
# undefined, then fuzzes for SECONDS starting from fuzz/corpus/series
# (read only: new inputs go to a scratch corpus). Any crash, leak, UBSan
# report or abort fails the run; the crashing input is kept in
# $FUZZ_OUT (default build-fuzz/) and its path printed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
out=${FUZZ_OUT:-$here/build-fuzz}
cc=${CLANG:-clang}
mkdir -p "$out/corpus"
echo "fuzz: building $out/fuzz_series_params with $cc"
"$cc" -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -I"$here/include" -I"$here/src/http" \
  "$here/fuzz/fuzz_series_params.c" "$here/src/http/params.c" \
  "$here"/src/metrics/*.c "$here"/src/common/*.c \
  -o "$out/fuzz_series_params" -lpthread -lm
echo "fuzz: running for ${secs} s from fuzz/corpus/series"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$out/fuzz_series_params" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 -artifact_prefix="$out/" "$out/corpus" "$here/fuzz/corpus/series" \
  > "$out/fuzz.log" 2>&1 || { tail -n 60 "$out/fuzz.log"; echo "fuzz: FAILED (log: $out/fuzz.log)"; exit 1; }
grep -E '^#[0-9]+.*(DONE|pulse)|^stat::' "$out/fuzz.log" | tail -n 8
echo "fuzz: ok"
