#!/bin/sh
# io_sample_check.sh - `gsperf profile --io-sample N` end to end on prof_io
# (known I/O: 100 writes of 4096 bytes, fsync, fdatasync, close, openat,
# 50 preads, readv, writev, pwrite, close, 10 sends and recvs).
# usage: io_sample_check.sh GSPERF PROF_IO WORKDIR   (needs jq)
#   --io-sample 1: every row has timed == count, io_sample 1 in the JSON,
#     "every call timed" in report.txt;
#   --io (default N, 16): counts and bytes exact, every row timed at least
#     once (its first call) and at most count, the 100 writes timed about
#     100/16 times (fewer than 40), io_sample 16, report.txt names N;
#   bad --io-sample values (0, 65537, abc, -3, empty) exit 2 naming the
#     value; a bad GSP_PROF_IO_SAMPLE in the environment: I/O is not
#     tracked and gsperf names the file and the value.
set -u
gsperf=$1 prog=$2 work=$3
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
command -v jq > /dev/null 2>&1 || { echo "jq not installed: skipped"; exit 77; }
f=$work/data.bin

"$gsperf" profile --io-sample 1 --json -o "$work/one" -- "$prog" "$f" > "$work/one.json" ||
  fail "gsperf profile --io-sample 1 exited $?"
cat "$work/one.json"
jq -e '.io_sample == 1 and (.io | length) > 0 and all(.io[]; .timed == .count)' \
  "$work/one.json" > /dev/null || fail "--io-sample 1: a row with timed != count"
grep -q 'every call timed' "$work/one/report.txt" || fail "--io-sample 1: report.txt does not say so"

"$gsperf" profile --io --json -o "$work/dflt" -- "$prog" "$f" > "$work/dflt.json" ||
  fail "gsperf profile --io exited $?"
cat "$work/dflt.json"
jq -e '.io_sample == 16 and all(.io[]; .timed >= 1 and .timed <= .count)' "$work/dflt.json" \
  > /dev/null || fail "default: io_sample not 16 or a row timed 0 or more than count times"
for want in "write:100 409600" "pread:50 204800" "readv:1 2048" "writev:1 1024" "fsync:1 0" \
            "close:2 0" "openat:1 0"; do
  call=${want%%:*} exp=${want#*:}
  got=$(jq -r --arg c "$call" --arg f "$f" \
    '.io[] | select(.call == $c and .file == $f) | "\(.count) \(.bytes)"' "$work/dflt.json")
  [ "$got" = "$exp" ] || fail "default: $call on $f: got '$got', want '$exp'"
done
jq -e --arg f "$f" '.io[] | select(.call == "write" and .file == $f) | .timed < 40' \
  "$work/dflt.json" > /dev/null || fail "default: the 100 writes not sampled"
grep -q 'times from 1 call in 16: total, mean, p50, p99 estimated' "$work/dflt/report.txt" ||
  fail "default: report.txt does not name N"

for bad in 0 65537 abc -3 ""; do
  "$gsperf" profile --io-sample "$bad" -o "$work/bad" -- true > "$work/bad.out" 2> "$work/bad.err"
  rc=$?
  [ $rc -eq 2 ] || fail "--io-sample '$bad': exit $rc, want 2"
  grep -q "bad --io-sample.*: $bad\$" "$work/bad.err" || fail "--io-sample '$bad': value not named"
done

GSP_PROF_IO_SAMPLE=12x "$gsperf" profile --io -o "$work/env" -- "$prog" "$f" \
  > "$work/env.out" 2> "$work/env.err" || fail "bad env: gsperf profile exited $?"
cat "$work/env.err"
grep -q "io\.[0-9]*\.txt: I/O not tracked: GSP_PROF_IO_SAMPLE=\"12x\"" "$work/env.err" ||
  fail "bad GSP_PROF_IO_SAMPLE not named"
echo PASS
