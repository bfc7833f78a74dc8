#!/bin/sh
# bench_analyze_dist.sh - `gsperf analyze` local vs `mpirun -np N gsperf
# analyze --distributed`, cold (empty result cache) and warm (the cache the
# cold run of the same configuration filled), side by side in one run,
# rounds interleaved. Prints per cell the median wall time, the median CPU
# time (user + sys of the whole process tree), files parsed, and the wall
# ratio to the local run of the same temperature.
# usage: bench_analyze_dist.sh GSPERF [DIR] [ROUNDS] [NPS]
#   DIR default /usr/lib/python3.11, ROUNDS default 3, NPS default "2 3"
set -eu
gsperf=$1 dir=${2:-/usr/lib/python3.11} rounds=${3:-3} nps=${4:-2 3}
work=$(mktemp -d /tmp/bench_analyze_dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
mpirun="mpirun --oversubscribe --allow-run-as-root --mca btl self,vader"
echo "bench_analyze_dist: $dir, $rounds rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# one run: CONFIG TEMP; appends "wall cpu parsed" to $work/CONFIG.TEMP
one() {
  cfg=$1 temp=$2
  [ "$temp" = cold ] && rm -rf "$work/cache.$cfg"
  case $cfg in
    local) cmd="$gsperf analyze $dir --json --top 0 --cache-dir $work/cache.$cfg" ;;
    np*) cmd="$mpirun -np ${cfg#np} $gsperf analyze $dir --distributed --json --top 0 --cache-dir $work/cache.$cfg" ;;
  esac
  /usr/bin/time -f '%e %U %S' -o "$work/time" $cmd > "$work/out" 2> "$work/err" ||
    { echo "failed: $cmd"; cat "$work/err"; exit 1; }
  parsed=$(grep -o '"parsed": [0-9]*' "$work/out" | head -1 | cut -d' ' -f2)
  awk -v p="$parsed" '{ printf "%.3f %.3f %s\n", $1, $2 + $3, p }' "$work/time" >> "$work/$cfg.$temp"
}

configs="local"
for n in $nps; do configs="$configs np$n"; done
r=0
while [ $r -lt "$rounds" ]; do
  for cfg in $configs; do one "$cfg" cold; one "$cfg" warm; done
  r=$((r + 1))
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
printf '%-8s %-5s %9s %9s %7s %9s\n' config temp wall_s cpu_s parsed vs_local
for temp in cold warm; do
  base=$(cut -d' ' -f1 "$work/local.$temp" | median)
  for cfg in $configs; do
    w=$(cut -d' ' -f1 "$work/$cfg.$temp" | median)
    c=$(cut -d' ' -f2 "$work/$cfg.$temp" | median)
    p=$(cut -d' ' -f3 "$work/$cfg.$temp" | tail -1)
    awk -v cfg="$cfg" -v t="$temp" -v w="$w" -v c="$c" -v p="$p" -v b="$base" \
      'BEGIN { printf "%-8s %-5s %9.3f %9.3f %7s %8.2fx\n", cfg, t, w, c, p, w / b }'
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
