#!/bin/sh
# profile_multi.sh - end-to-end checks of `gsperf profile` on a command
# that becomes several processes: every process's files are merged.
# usage: profile_multi.sh GSPERF WORKDIR CASE HOT3 PAIR SPAWN LEAKS IO
# Cases:
#   cpu     a shell script runs prof_hot3 and prof_pair at once and exits 5:
#           gsperf exits 5; both processes are listed with their program;
#           an orphaned child that exited 7 is listed with that status;
#           each one's hot functions carry its pid (JSON pids, collapsed
#           and flame.svg root frames); `go tool pprof -top` reads
#           cpu.pb.gz, `-tags` lists both pids, `-tagfocus=pid=P` keeps
#           only that process's functions (pprof parts skipped without go)
#   robust  a child killed by SIGKILL whose file is then cut mid-record,
#           and a garbage cpu.<pid>.raw, io.<pid>.txt and heap.<pid>.raw:
#           the cut file is read up to its last whole record and the
#           report names it, each garbage file is named in an error, and
#           the other process is still reported
#   leaks   prof_spawn runs prof_leaks leaky and prof_leaks clean: exactly
#           the leaky process's three leaks, with its pid; heap.pb.gz
#           carries the pid label
#   io      a shell script runs prof_io twice on one file: the rows of
#           that file are the sums of both processes, with both pids
set -u
gsperf=$1 work=$2 case=$3 hot3=$4 pair=$5 spawn=$6 leaks=$7 io=$8
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
havego() { command -v go > /dev/null 2>&1; }
pprof() { HOME=$work GOCACHE=$work/gocache go tool pprof "$@"; }

case $case in
cpu)
  cat > "$work/run.sh" <<EOS
"$hot3" 1 & echo \$! > "$work/pid1"
"$pair" 1 & echo \$! > "$work/pid2"
(sh -c 'exit 7' & echo \$! > "$work/pid3")
p3=\$(cat "$work/pid3")
for i in \$(seq 100); do grep -q ') Z' /proc/\$p3/stat 2> /dev/null && break; sleep 0.1; done
wait
exit 5
EOS
  "$gsperf" profile --hz 199 --json -o "$work/out" -- sh "$work/run.sh" > "$work/out.json"
  rc=$?
  cat "$work/out.json"
  [ "$rc" = 5 ] || fail "exit $rc, want 5 (the script's)"
  p1=$(cat "$work/pid1") p2=$(cat "$work/pid2")
  jq -e --argjson p "$p1" '.processes[] | select(.pid == $p) | .exe | endswith("/prof_hot3_gcc")' \
    "$work/out.json" > /dev/null || fail "process $p1 (prof_hot3_gcc) not listed"
  jq -e --argjson p "$p2" '.processes[] | select(.pid == $p) | .comm == "prof_pair"' \
    "$work/out.json" > /dev/null || fail "process $p2 (prof_pair) not listed"
  p3=$(cat "$work/pid3")
  jq -e --argjson p "$p3" '[.processes[] | select(.exit == 5 or .pid == $p) | .exit] | sort == [5, 7]' \
    "$work/out.json" > /dev/null || fail "exit statuses: want 5 (the script) and 7 (orphan $p3)"
  for want in hot_sixty:$p1 hot_thirty:$p1 pair_major:$p2 pair_minor:$p2; do
    fn=${want%:*} pid=${want#*:}
    jq -e --arg f "$fn" --argjson p "$pid" '.functions[] | select(.name == $f) | .pids == [$p]' \
      "$work/out.json" > /dev/null || fail "$fn not reported with pid $pid alone"
    grep -q "^prof_[a-z0-9_]* \[$pid\];.*;$fn [0-9]*\$" "$work/out/cpu.collapsed" ||
      fail "cpu.collapsed: no $fn under the root frame of $pid"
  done
  grep -q "<title>prof_pair \[$p2\] (" "$work/out/flame.svg" || fail "flame.svg: no frame for $p2"
  grep -q "prof_hot3_gcc .*$p1" "$work/out/report.txt" || fail "report.txt lacks process $p1"
  grep -q "pair_major.*\[prof_pair $p2\]" "$work/out/report.txt" ||
    fail "report.txt: pair_major not named with its process"
  havego || { echo "go not installed: pprof checks skipped"; echo PASS; exit 0; }
  pprof -top "$work/out/cpu.pb.gz" > "$work/top.txt" 2>&1 || { cat "$work/top.txt"; fail "pprof -top"; }
  grep -q hot_sixty "$work/top.txt" && grep -q pair_major "$work/top.txt" || fail "pprof -top lacks a program"
  pprof -tags "$work/out/cpu.pb.gz" > "$work/tags.txt" 2>&1 || fail "pprof -tags"
  cat "$work/tags.txt"
  grep -q "pid:" "$work/tags.txt" && grep -q ": $p1\$" "$work/tags.txt" &&
    grep -q ": $p2\$" "$work/tags.txt" || fail "pprof -tags lacks the pids"
  pprof -top -tagfocus=pid="$p2" "$work/out/cpu.pb.gz" > "$work/focus.txt" 2>&1 || fail "tagfocus"
  cat "$work/focus.txt"
  grep -q pair_major "$work/focus.txt" || fail "-tagfocus=pid=$p2 lost pair_major"
  ! grep -q hot_sixty "$work/focus.txt" || fail "-tagfocus=pid=$p2 kept hot_sixty"
  ;;
robust)
  cat > "$work/run.sh" <<EOS
d=\$GSP_PROF_DIR
"$pair" 0.5
"$hot3" 30 & p=\$!; echo \$p > "$work/pid_killed"
# kill it once it has written some 50 samples (about 4 KB), however loaded the machine
for i in \$(seq 600); do [ "\$(stat -c %s "\$d/cpu.\$p.raw" 2> /dev/null || echo 0)" -gt 4000 ] && break; sleep 0.1; done
kill -9 \$p; wait \$p
truncate -s -5 "\$d/cpu.\$p.raw"
echo "this is not a sample file" > "\$d/cpu.999999.raw"
echo "nor an I/O table" > "\$d/io.999999.txt"
printf 'gsperf-heap 1 sample 0 leaks 1\n1 2 3\n' > "\$d/heap.999999.raw"
cp "\$d/cpu.\$p.raw.maps" "\$d/heap.999999.raw.maps"
exit 0
EOS
  "$gsperf" profile --json -o "$work/out" -- sh "$work/run.sh" > "$work/out.json" 2> "$work/err.txt"
  rc=$?
  cat "$work/out.json" "$work/err.txt"
  [ "$rc" = 0 ] || fail "exit $rc, want 0"
  pk=$(cat "$work/pid_killed") d=$work/out
  jq -e --argjson p "$pk" '.processes[] | select(.pid == $p) | .truncated and .samples > 20' \
    "$work/out.json" > /dev/null || fail "the cut file of $pk is not read up to its last record"
  jq -e '.processes[] | select(.comm == "prof_pair") | .samples > 10' "$work/out.json" > /dev/null ||
    fail "the other process is not reported"
  jq -e --arg f "$d/cpu.$pk.raw" '.problems | any(startswith($f + ": last record cut short"))' \
    "$work/out.json" > /dev/null || fail "no problem names the cut file"
  jq -e --arg f "$d/cpu.999999.raw" '.problems | any(startswith($f + ": not a gsperf CPU"))' \
    "$work/out.json" > /dev/null || fail "no problem names the garbage file"
  grep -q "cpu.$pk.raw: last record cut short" "$d/report.txt" || fail "report.txt lacks the cut file"
  grep -q "$d/cpu.999999.raw: not a gsperf" "$work/err.txt" || fail "stderr lacks the garbage file"
  jq -e '.functions | any(.name == "pair_major") and any(.name == "hot_sixty")' "$work/out.json" \
    > /dev/null || fail "functions of a process missing"
  # the heap and I/O readers on the same directory (the run had no --heap/--io)
  "$gsperf" profile --leaks --io -o "$work/out2" -- sh -c "
    d=\$GSP_PROF_DIR; echo junk > \$d/io.999998.txt; echo junk > \$d/heap.999997.raw.maps
    printf 'gsperf-heap 1 sample 0 leaks 1\\n1 2 x\\n' > \$d/heap.999998.raw
    cat /proc/self/maps > \$d/heap.999998.raw.maps; cp \$d/heap.999998.raw \$d/heap.999997.raw
    \"$pair\" 0.1" > "$work/out2.txt" 2> "$work/err2.txt"
  cat "$work/err2.txt"
  grep -q "$work/out2/io.999998.txt: not a gsperf I/O file" "$work/err2.txt" || fail "io garbage not named"
  grep -q "$work/out2/heap.999998.raw: not a gsperf heap file" "$work/err2.txt" ||
    fail "heap garbage not named"
  grep -q "$work/out2/heap.999997.raw: its .maps file is not a memory map" "$work/err2.txt" ||
    fail "heap file with a garbage map not named"
  grep -q "I/O by file and call, [1-9]" "$work/out2.txt" || fail "I/O of the other processes lost"
  grep -q "Leaks: 0 site" "$work/out2.txt" || fail "heap of the other processes lost"
  ;;
leaks)
  "$gsperf" profile --leaks --json -o "$work/out" -- "$spawn" "$work/pids" 0 -- "$leaks" leaky \
    -- "$leaks" clean > "$work/all.txt" || fail "gsperf profile exited $?"
  tail -n 1 "$work/all.txt" > "$work/out.json"
  cat "$work/out.json"
  pl=$(sed -n 1p "$work/pids") pc=$(sed -n 2p "$work/pids")
  [ -s "$work/out/heap.$pl.raw" ] && [ -s "$work/out/heap.$pc.raw" ] || fail "a heap file is missing"
  jq -e '.leaks | length == 3' "$work/out.json" > /dev/null || fail "want exactly 3 leaks"
  jq -e --argjson p "$pl" '[.leaks[] | .pid == $p and .comm == "prof_leaks"] | all' \
    "$work/out.json" > /dev/null || fail "a leak not from the leaky process $pl"
  for fn in leak_site_one leak_site_two leak_site_three; do
    jq -e --arg f "$fn" '[.leaks[] | select(.stack[0] == $f)] | length == 1' "$work/out.json" \
      > /dev/null || fail "leak from $fn not reported"
  done
  grep -q "Heap (every allocation tracked), 3 process(es)" "$work/out/report.txt" ||
    fail "report.txt: not 3 heap files (driver and two children)"
  grep -q "leak_site_one.*\[prof_leaks $pl\]" "$work/out/report.txt" ||
    fail "report.txt: leak without its process"
  if havego; then
    pprof -tags "$work/out/heap.pb.gz" > "$work/tags.txt" 2>&1 || fail "pprof -tags heap.pb.gz"
    cat "$work/tags.txt"
    grep -q ": $pl\$" "$work/tags.txt" && grep -q ": $pc\$" "$work/tags.txt" ||
      fail "heap.pb.gz lacks the pids"
  fi
  ;;
io)
  f=$work/data.bin
  "$gsperf" profile --io -o "$work/out" -- sh -c "\"$io\" \"$f\" && \"$io\" \"$f\"" \
    > "$work/out.txt" || fail "gsperf profile exited $?"
  cat "$work/out.txt"
  row() { grep -E "^$1 +" "$work/out.txt" | grep -F " $f" | awk '{print $2, $3, $8}'; }
  for want in "write:200 819200" "pread:100 409600" "readv:2 4096" "close:4 0" "openat:2 0"; do
    call=${want%%:*} exp=${want#*:}
    got=$(row "$call")
    case "$got" in "$exp "*,*) ;; *) fail "$call on $f: got '$got', want '$exp' and two pids" ;; esac
  done
  grep -q "I/O by file and call, [23] process(es)" "$work/out/report.txt" || fail "report.txt: not 2 or 3 I/O files"
  ;;
*) fail "unknown case $case" ;;
esac
echo PASS
