#!/usr/bin/env bash
# Miss ratios of every gsperf strategy on the shared reference traces, next
# to libCacheSim's measured figures (../shared/data/reference-miss-ratios.csv),
# with the project's targets checked row by row:
#   LRU, FIFO within 0.1 points of libCacheSim's; LFU within 1 point;
#   ADAPTIVE no worse than the best of ARC, S3FIFO, Sieve, LIRS, WTinyLFU
#   plus 0.5 points, and better than LRU where any of those is.
# usage: bench/cache/missratio.sh [GSPERF_BINARY] [DATA_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
gsperf=${1:-$here/build/gsperf}
data=${2:-$here/../shared/data}
ref="$data/reference-miss-ratios.csv"
[ -x "$gsperf" ] || { echo "missratio: no gsperf binary at $gsperf (build first)"; exit 2; }
[ -r "$ref" ] || { echo "missratio: no reference file at $ref"; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

sizes_of() { awk -F, -v t="$1" 'NR > 1 && $1 == t { print $2 }' "$ref" | sort -n -u | paste -sd,; }
for trace in OLTP P3 cloudPhysicsIO; do
  file=$(ls "$data/traces/$trace".* | head -n 1)
  echo "missratio: $gsperf cachesim --ignore-size --csv --no-belady --sizes $(sizes_of "$trace") $file" >&2
  "$gsperf" cachesim --ignore-size --csv --no-belady --strategies all \
    --sizes "$(sizes_of "$trace")" "$file" | tail -n +2 >> "$out"
done

awk -F, '
  FNR == NR { if (FNR > 1) ref[$1 "," $2 "," $3] = $4; next }
  { ours[$1 "," $3 "," toupper($2)] = $6; key[$1 "," $3] = 1 }
  END {
    fails = 0
    printf "%-15s %8s  %-8s %8s %8s %8s  %s\n", "trace", "size", "strategy", "gsperf",
           "libcs", "delta_pp", "target"
    n = split("LRU FIFO LFU", names, " ")
    for (k in key) rows[++nr] = k
    asort_rows()
    for (r = 1; r <= nr; r++) {
      k = sorted[r]
      for (i = 1; i <= n; i++) {
        s = names[i]; lim = (s == "LFU") ? 1.0 : 0.1
        d = 100 * (ours[k "," s] - ref[k "," s])
        ok = (d <= lim && d >= -lim)
        fails += !ok
        printf "%-24s %-8s %8.4f %8.4f %+8.2f  |d|<=%.1f %s\n", k, s, ours[k "," s],
               ref[k "," s], d, lim, ok ? "ok" : "MISSED"
      }
      best = 2; bname = ""
      split("ARC S3FIFO Sieve LIRS WTinyLFU", peers, " ")
      for (j = 1; j <= 5; j++) {
        v = ref[k "," peers[j]]
        if (peers[j] == "WTinyLFU" && v >= 0.9999) continue  # cannot work at this size
        if (v != "" && v < best) { best = v; bname = peers[j] }
      }
      a = ours[k ",ADAPTIVE"]; lru = ref[k ",LRU"]
      ok = (a <= best + 0.005) && (best >= lru - 0.0001 || a < lru)
      fails += !ok
      printf "%-24s %-8s %8.4f %8.4f %+8.2f  <=best(%s)+0.5 %s; LRU %.4f\n", k, "ADAPTIVE",
             a, best, 100 * (a - best), bname, ok ? "ok" : "MISSED", lru
    }
    printf "\nmissratio: %d target(s) missed\n", fails
  }
  function asort_rows(   i, j, t) {
    for (i = 1; i <= nr; i++) sorted[i] = rows[i]
    for (i = 2; i <= nr; i++) for (j = i; j > 1 && cmp(sorted[j - 1], sorted[j]) > 0; j--) {
      t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t
    }
  }
  function cmp(a, b,   pa, pb) {
    split(a, pa, ","); split(b, pb, ",")
    if (pa[1] != pb[1]) return pa[1] < pb[1] ? -1 : 1
    return pa[2] - pb[2]
  }
' "$ref" "$out"
