#!/bin/sh
# fork_stress.sh - many fork children under libgsperf-preload.so, each of
# which starts its own CPU profile while it redirects its stdout the way
# a shell does; every write must reach its file (a profiler descriptor
# taken or closed under the program would fail one: "echo: I/O error",
# dup2 EBUSY).
# usage: fork_stress.sh PRELOAD STRESS_PROG WORKDIR CASE
#   c SOURCE  prof_fork_stress (threads starting and exiting, samples
#             flowing, 150 children of 30 redirects) on SOURCE
#   sh        dash running `(sh -c 'exit 7' & echo $! > file)` 300 times
#             (the subshell and its background child are fork children)
set -u
preload=$1 prog=$2 work=$3 case=$4
rm -rf "$work"; mkdir -p "$work/prof"
fail() { echo "FAIL: $*"; exit 1; }
case $case in
c)
  env LD_PRELOAD="$preload" GSP_PROF_DIR="$work/prof" GSP_PROF_SAMPLER="$5" GSP_PROF_HZ=997 \
    "$prog" "$work" 150 30 || fail "a redirect failed (source $5)"
  ;;
sh)
  cat > "$work/loop.sh" <<EOS
for i in \$(seq 300); do
  (sh -c 'exit 7' & echo \$! > "$work/pid.\$i")
  [ -s "$work/pid.\$i" ] || echo "iteration \$i: pid file empty" >&2
done
EOS
  env LD_PRELOAD="$preload" GSP_PROF_DIR="$work/prof" GSP_PROF_HZ=997 sh "$work/loop.sh" \
    2> "$work/err.txt"
  rc=$?
  cat "$work/err.txt"
  [ "$rc" = 0 ] || fail "the script exited $rc"
  [ -s "$work/err.txt" ] && fail "the script reported errors"
  n=$(ls "$work/prof" | grep -c '^cpu\.[0-9]*\.raw$')
  # 601 processes; a pid the kernel reuses within the run shares a file
  [ "$n" -ge 500 ] || fail "$n CPU files, want about 601 (the fork children were not profiled)"
  ;;
*) fail "unknown case $case" ;;
esac
echo PASS
