#!/bin/sh
# profile_check.sh - end-to-end checks of `gsperf profile` on prof_hot3.
# usage: profile_check.sh GSPERF PROG WORKDIR CASE [HZ SECONDS]
# Cases:
#   split   the 60/30/10 split of hot_sixty/hot_thirty/hot_ten, each within
#           3 points of its share, and every output file present
#   status  the program's exit status (3) is gsperf's
#   kill    a program killed by SIGKILL: exit 137, samples still reported
#   pprof   `go tool pprof -top` reads cpu.pb.gz and names hot_sixty
#           (77 = skipped when go is not installed)
#   leaky   PROG is prof_leaks: exactly its three leaks, with the right
#           allocating functions, bytes and counts; `go tool pprof -top`
#           reads heap.pb.gz (when go is installed)
#   clean   PROG is prof_leaks: no leak at all
#   heap    PROG is prof_leaks, sampled heap profile: sites reported
#   io      PROG is prof_io: the counts and bytes per call of its file
set -u
gsperf=$1 prog=$2 work=$3 case=$4 hz=${5:-99} secs=${6:-2}
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

case $case in
split)
  "$gsperf" profile --hz "$hz" --json -o "$work/out" -- "$prog" "$secs" > "$work/out.json" ||
    fail "gsperf profile exited $?"
  cat "$work/out.json"
  for f in cpu.pb.gz cpu.collapsed flame.svg report.txt; do
    [ -s "$work/out/$f" ] || fail "missing $f"
  done
  for pair in hot_sixty:60 hot_thirty:30 hot_ten:10; do
    fn=${pair%:*} want=${pair#*:}
    got=$(jq -r --arg f "$fn" '.functions[] | select(.name == $f) | .self_pct' "$work/out.json")
    [ -n "$got" ] || fail "$fn not reported"
    jq -e -n --argjson g "$got" --argjson w "$want" '($g - $w) | fabs <= 3' > /dev/null ||
      fail "$fn: self $got%, want $want +- 3"
    echo "ok: $fn self $got% (want $want)"
  done
  grep -q 'hot_sixty' "$work/out/cpu.collapsed" || fail "collapsed lacks hot_sixty"
  grep -q '<svg' "$work/out/flame.svg" && grep -q 'hot_thirty' "$work/out/flame.svg" ||
    fail "flame.svg lacks frames"
  ;;
status)
  "$gsperf" profile -o "$work/out" -- "$prog" 0.2 3 > "$work/out.txt"
  rc=$?
  [ "$rc" = 3 ] || fail "exit $rc, want 3"
  grep -q 'hot_sixty' "$work/out.txt" || fail "no report printed"
  ;;
kill)
  "$gsperf" profile --json -o "$work/out" -- "$prog" 1 kill > "$work/out.json"
  rc=$?
  [ "$rc" = 137 ] || fail "exit $rc, want 137"
  n=$(jq -r '.samples' "$work/out.json")
  [ "${n:-0}" -gt 50 ] || fail "only ${n:-0} samples survived the kill"
  jq -e '.functions[0].name == "hot_sixty"' "$work/out.json" > /dev/null || fail "top is not hot_sixty"
  ;;
pprof)
  command -v go > /dev/null 2>&1 || { echo "go not installed: skipped"; exit 77; }
  "$gsperf" profile --hz "$hz" -o "$work/out" -- "$prog" 0.5 > /dev/null || fail "profile failed"
  HOME=$work GOCACHE=$work/gocache go tool pprof -top "$work/out/cpu.pb.gz" > "$work/top.txt" 2>&1 ||
    { cat "$work/top.txt"; fail "go tool pprof failed"; }
  cat "$work/top.txt"
  grep -q 'hot_sixty' "$work/top.txt" || fail "pprof -top lacks hot_sixty"
  ;;
leaky)
  # the program prints a line first: the JSON is the last line
  "$gsperf" profile --leaks --json -o "$work/out" -- "$prog" leaky > "$work/all.txt" ||
    fail "gsperf profile exited $?"
  tail -n 1 "$work/all.txt" > "$work/out.json"
  cat "$work/out.json"
  jq -e '.leaks | length == 3' "$work/out.json" > /dev/null || fail "want exactly 3 leaks"
  for want in leak_site_one:100 leak_site_two:150 leak_site_three:300; do
    fn=${want%:*} bytes=${want#*:}
    jq -e --arg f "$fn" --argjson b "$bytes" \
      '[.leaks[] | select(.stack[0] == $f and .bytes == $b and .count == 1)] | length == 1' \
      "$work/out.json" > /dev/null || fail "leak from $fn ($bytes bytes) not reported"
  done
  grep -q 'Leaks: 3 site' "$work/out/report.txt" || fail "report.txt lacks the leaks"
  if command -v go > /dev/null 2>&1; then
    HOME=$work GOCACHE=$work/gocache go tool pprof -top -nodefraction=0 -sample_index=inuse_space \
      "$work/out/heap.pb.gz" > "$work/heaptop.txt" 2>&1 || { cat "$work/heaptop.txt"; fail "go tool pprof heap.pb.gz"; }
    cat "$work/heaptop.txt"
    grep -q 'leak_site_three' "$work/heaptop.txt" || fail "heap.pb.gz lacks leak_site_three"
  fi
  ;;
clean)
  "$gsperf" profile --leaks --cpu --json -o "$work/out" -- "$prog" clean > "$work/all.txt" ||
    fail "gsperf profile exited $?"
  tail -n 1 "$work/all.txt" > "$work/out.json"
  cat "$work/out.json"
  jq -e '.leaks | length == 0' "$work/out.json" > /dev/null || fail "leaks reported"
  ;;
heap)
  "$gsperf" profile --heap --heap-sample 4096 -o "$work/out" -- "$prog" clean > "$work/out.txt" ||
    fail "gsperf profile exited $?"
  cat "$work/out.txt"
  grep -q 'one allocation tracked per 4096 bytes' "$work/out.txt" || fail "no heap section"
  grep -q 'churn\|keep_reachable\|worker' "$work/out.txt" || fail "no program site"
  ;;
io)
  "$gsperf" profile --io -o "$work/out" -- "$prog" "$work/data.bin" > "$work/out.txt" ||
    fail "gsperf profile exited $?"
  cat "$work/out.txt"
  row() { grep -E "^$1 +" "$work/out.txt" | grep -F "$2" | awk '{print $2, $3}'; }
  f="$work/data.bin"
  for want in "write:100 409600" "pread:50 204800" "readv:1 2048" "writev:1 1024" \
              "pwrite:1 100" "fsync:1 0" "fdatasync:1 0" "open:1 0" "openat:1 0" "close:2 0"; do
    call=${want%%:*} exp=${want#*:}
    got=$(row "$call" "$f")
    [ "$got" = "$exp" ] || fail "$call on $f: got '$got', want '$exp'"
  done
  [ "$(grep -E '^send +' "$work/out.txt" | awk '{s+=$2; b+=$3} END {print s, b}')" = "10 640" ] ||
    fail "send rows wrong"
  [ "$(grep -E '^recv +' "$work/out.txt" | awk '{s+=$2; b+=$3} END {print s, b}')" = "10 640" ] ||
    fail "recv rows wrong"
  grep -q 'I/O by file and call' "$work/out/report.txt" || fail "report.txt lacks I/O"
  ;;
*) fail "unknown case $case" ;;
esac
echo PASS
