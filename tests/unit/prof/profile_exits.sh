#!/bin/sh
# profile_exits.sh - `gsperf profile` reports how every process of a
# shell script ended, those the script reaps itself included (the
# preload's wait hooks write exit.<pid>): a child that exits 3, one that
# SIGTERM ends before it runs a program, prof_hot3 ended by SIGTERM while
# it burns CPU, and an orphan (reaped by gsperf) that exits 6. JSON:
# exit and signal of each; report.txt: "3", "SIGTERM", "6". And the
# kernel's share of each process's CPU time: dd copying /dev/zero to
# /dev/null in 512-byte blocks (mostly system calls) above 40%, prof_hot3
# (user-space loops) below 10%.
# usage: profile_exits.sh GSPERF WORKDIR HOT3
set -u
gsperf=$1 work=$2 hot3=$3
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
cat > "$work/run.sh" <<EOS
d=\$GSP_PROF_DIR
sh -c 'exit 3' & echo \$! > "$work/pid_exit3"; wait \$!
sh -c 'kill -TERM \$\$' & echo \$! > "$work/pid_term"; wait \$!
"$hot3" 30 & p=\$!; echo \$p > "$work/pid_hot"
# until it has samples and its .times file 20 ticks of user time
for i in \$(seq 600); do [ "\$(cut -d' ' -f4 "\$d/cpu.\$p.raw.times" 2> /dev/null || echo 0)" -gt 20 ] && break; sleep 0.05; done
kill -TERM \$p; wait \$p
dd if=/dev/zero of=/dev/null bs=512 count=1500000 2> /dev/null & echo \$! > "$work/pid_dd"; wait \$!
(sh -c 'sleep 0.2; exit 6' & echo \$! > "$work/pid_orphan")
# gsperf reaps the orphans that ended by the time the script ends
p=\$(cat "$work/pid_orphan")
for i in \$(seq 100); do grep -q ') Z' /proc/\$p/stat 2> /dev/null && break; sleep 0.1; done
exit 0
EOS
"$gsperf" profile --json -o "$work/out" -- sh "$work/run.sh" > "$work/out.json"
rc=$?
cat "$work/out.json"; cat "$work/out/report.txt"
[ "$rc" = 0 ] || fail "exit $rc, want 0 (the script's)"
check() { # pid exit signal(null or N) text
  jq -e --argjson p "$1" --argjson e "$2" --argjson s "$3" \
    '.processes[] | select(.pid == $p) | .exit == $e and .signal == $s' "$work/out.json" \
    > /dev/null || fail "process $1: want exit $2, signal $3"
  grep -Eq "^ +$1 .* $4  " "$work/out/report.txt" || fail "report.txt: process $1 not shown ending '$4'"
}
check "$(cat "$work/pid_exit3")" 3 null 3
check "$(cat "$work/pid_term")" 143 15 SIGTERM
check "$(cat "$work/pid_hot")" 143 15 SIGTERM
check "$(cat "$work/pid_orphan")" 6 null 6
pd=$(cat "$work/pid_dd") ph=$(cat "$work/pid_hot")
jq -e --argjson p "$pd" '.processes[] | select(.pid == $p) | .kernel_pct != null and .kernel_pct > 40' "$work/out.json" \
  > /dev/null || fail "dd ($pd): kernel share not above 40%"
jq -e --argjson p "$ph" '.processes[] | select(.pid == $p) | .kernel_pct != null and .kernel_pct < 10' "$work/out.json" \
  > /dev/null || fail "prof_hot3 ($ph): kernel share not below 10%"
grep -Eq "^ +$pd +[0-9]+ +[0-9.]+% +[0-9.]+% " "$work/out/report.txt" ||
  fail "report.txt: no kernel share for dd"
jq -e '.processes[] | select(.exit == null)' "$work/out.json" > /dev/null &&
  fail "a process without its exit status"
[ -f "$work/out/exit.$(cat "$work/pid_exit3")" ] || fail "no exit file next to the child's data"
echo PASS
