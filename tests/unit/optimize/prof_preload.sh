#!/bin/sh
# prof_preload.sh - the optimization report finds the profile of
# `gsperf profile`'s preload library on its own:
#   sh prof_preload.sh HOST PRELOAD_SO WORKDIR
# Runs HOST (opt_prof_host) under the preload with GSP_PROF_DIR set: its
# report's profiler part must come from the preload's raw file of that
# process; then without the preload: unavailable.
set -u
host=$1 preload=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
GSP_PROF_DIR=$work LD_PRELOAD=$preload "$host" preload > "$work/out" 2>&1 ||
  { echo "FAIL: under the preload:"; cat "$work/out"; exit 1; }
ls "$work"/cpu.*.raw > /dev/null 2>&1 || { echo "FAIL: no raw file in $work"; exit 1; }
"$host" none > "$work/out2" 2>&1 || { echo "FAIL: without it:"; cat "$work/out2"; exit 1; }
echo "ok: $(head -c 200 "$work/out")"
