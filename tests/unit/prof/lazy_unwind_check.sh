#!/bin/sh
# lazy_unwind_check.sh - libunwind is loaded only when CPU sampling starts:
# neither the library nor the preload library links it, a program
# preloaded for I/O tracking only does not map it, one preloaded for CPU
# sampling does.
# usage: lazy_unwind_check.sh PRELOAD_SO LIBGSPERF_SO WORKDIR
set -u
preload=$1 lib=$2 work=$3
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
for so in "$preload" "$lib"; do
  readelf -d "$so" | grep -q 'NEEDED.*libunwind' && fail "$so links libunwind"
done
LD_PRELOAD=$preload GSP_PROF_DIR=$work GSP_PROF_CPU=0 GSP_PROF_IO=1 cat /proc/self/maps > "$work/io.maps" ||
  fail "cat under the preload (I/O only) failed"
grep -q libgsperf-preload "$work/io.maps" || fail "the preload library is not mapped"
grep -q libunwind "$work/io.maps" && fail "libunwind mapped for an I/O-only run"
LD_PRELOAD=$preload GSP_PROF_DIR=$work cat /proc/self/maps > "$work/cpu.maps" ||
  fail "cat under the preload (CPU) failed"
grep -q libunwind "$work/cpu.maps" || fail "libunwind not mapped while sampling"
echo PASS
