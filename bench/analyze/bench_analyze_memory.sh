#!/bin/sh
# bench_analyze_memory.sh - peak memory of `gsperf analyze --db`, default
# vs `--memory aggressive`, side by side in one run, rounds interleaved:
# cold (empty result cache), warm (the cache the cold run of the same mode
# filled) and --no-cache. Per cell: median peak RSS (ru_maxrss of the child
# process, from /usr/bin/time), median wall and CPU (user + sys) time, and
# the ratios aggressive / default. Every database must equal the first one
# byte for byte (same graph, same file), else the script fails. Peak RSS
# hardly depends on the machine's load; wall time does, and CPU time a
# little: compare CPU, and wall only on a quiet machine (the load is
# printed before and after).
# usage: bench_analyze_memory.sh GSPERF [ROUNDS] [DIR...]
#   ROUNDS default 3; DIRs default /usr/include /usr/lib/python3.11
set -eu
gsperf=$1
rounds=${2:-3}
shift $(($# > 1 ? 2 : 1))
[ $# -gt 0 ] || set -- /usr/include /usr/lib/python3.11
work=$(mktemp -d /tmp/bench_analyze_memory.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "bench_analyze_memory: $rounds rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# one run: DIR MODE TEMP; appends "rss_kb wall_s cpu_s" to $work/MODE.TEMP
one() {
  dir=$1 mode=$2 temp=$3
  set -- analyze "$dir" --db "$work/run.db" --top 0 --memory "$mode"
  case $temp in
    cold) rm -rf "$work/cache.$mode"; set -- "$@" --cache-dir "$work/cache.$mode" ;;
    warm) set -- "$@" --cache-dir "$work/cache.$mode" ;;
    nocache) set -- "$@" --no-cache ;;
  esac
  rm -f "$work/run.db"
  /usr/bin/time -f '%M %e %U %S' -o "$work/time" "$gsperf" "$@" > "$work/out" 2> "$work/err" ||
    { echo "failed: $gsperf $*"; cat "$work/err"; exit 1; }
  if [ -f "$work/first.db" ]; then
    cmp -s "$work/first.db" "$work/run.db" || { echo "database differs: $mode $temp"; exit 1; }
  else
    cp "$work/run.db" "$work/first.db"
  fi
  awk '{ printf "%d %.3f %.3f\n", $1, $2, $3 + $4 }' "$work/time" >> "$work/$mode.$temp"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { cut -d' ' -f"$2" "$work/$1" | median; }

for dir in "$@"; do
  rm -f "$work"/default.* "$work"/aggressive.* "$work/first.db"
  bytes=$(find "$dir" -type f \( -name '*.[ch]' -o -name '*.py' -o -name '*.pyi' \) -printf '%s\n' |
    awk '{ s += $1 } END { printf "%.1f", s / 1e6 }')
  echo "== $dir ($bytes MB of C and Python)"
  r=0
  while [ $r -lt "$rounds" ]; do
    for temp in cold warm nocache; do
      for mode in default aggressive; do one "$dir" "$mode" "$temp"; done
    done
    r=$((r + 1))
  done
  printf '%-8s %-11s %9s %8s %8s   %s\n' temp mode peak_MB wall_s cpu_s 'aggressive/default'
  for temp in cold warm nocache; do
    for mode in default aggressive; do
      m=$(col "$mode.$temp" 1) w=$(col "$mode.$temp" 2) c=$(col "$mode.$temp" 3)
      md=$(col "default.$temp" 1) wd=$(col "default.$temp" 2) cd=$(col "default.$temp" 3)
      awk -v t="$temp" -v mo="$mode" -v m="$m" -v w="$w" -v c="$c" -v md="$md" -v wd="$wd" -v cd="$cd" \
        'BEGIN { printf "%-8s %-11s %9.1f %8.2f %8.2f", t, mo, m / 1024, w, c;
                 if (mo == "aggressive") printf "   rss %.2fx (%.0f%% lower), wall %.2fx, cpu %.2fx",
                   m / md, 100 * (1 - m / md), w / wd, c / cd;
                 printf "\n" }'
    done
  done
  echo "databases: identical across all $((rounds * 6)) runs"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
