#!/bin/sh
# cache_cli.sh - end-to-end checks of `gsperf cache` on a scratch directory:
# put (argument and stdin), get, stats (text and --json), verify on a sound
# and on a damaged cache (exit 1, then --repair), clear, a foreign file, and
# bad usage (exit 2).  usage: cache_cli.sh GSPERF WORKDIR
set -u
G=$1
W=$2
D=$W/cache
rm -rf "$W"
mkdir -p "$W"
fails=0
check() { # check WHAT EXPECTED_RC ACTUAL_RC
  if [ "$2" != "$3" ]; then echo "FAIL: $1: exit $3, expected $2"; fails=$((fails + 1)); fi
}
contains() { # contains WHAT FILE TEXT
  if ! grep -q -- "$3" "$2"; then
    echo "FAIL: $1: '$3' not in:"; cat "$2"; fails=$((fails + 1))
  fi
}

"$G" cache put "$D" alpha "first value" > "$W/out" 2>&1; check "put" 0 $?
contains "put" "$W/out" "stored 11 bytes"
printf 'from\nstandard input' | "$G" cache put "$D" beta - > "$W/out" 2>&1; check "put -" 0 $?
"$G" cache get "$D" alpha > "$W/out" 2>&1; check "get" 0 $?
[ "$(cat "$W/out")" = "first value" ] || { echo "FAIL: get alpha: $(cat "$W/out")"; fails=$((fails + 1)); }
"$G" cache get "$D" beta > "$W/out" 2>&1; check "get stdin value" 0 $?
printf 'from\nstandard input' | cmp -s - "$W/out" || { echo "FAIL: get beta"; fails=$((fails + 1)); }
"$G" cache --json get "$D" beta > "$W/out" 2>&1; check "get --json" 0 $?
contains "get --json" "$W/out" '"value":"from\\u000astandard input"'
"$G" cache get "$D" gamma > "$W/out" 2>&1; check "get missing" 1 $?
contains "get missing" "$W/out" "gamma: not found"

"$G" cache stats "$D" > "$W/out" 2>&1; check "stats" 0 $?
contains "stats" "$W/out" "entries    2"
"$G" cache --json stats "$D" > "$W/out" 2>&1; check "stats --json" 0 $?
contains "stats --json" "$W/out" '"entries":2,'
"$G" cache verify "$D" > "$W/out" 2>&1; check "verify sound" 0 $?
contains "verify sound" "$W/out" "good 2"

# damage one stored byte of a value behind gsperf's back
"$G" cache put "$D" delta "MARKER-0123456789-abcdefghijklmnopqrstuvwxyz" > /dev/null 2>&1
for off in $(grep -boa "MARKER-0123456789" "$D/data.mdb" | cut -d: -f1); do
  printf 'X' | dd of="$D/data.mdb" bs=1 seek=$((off + 20)) conv=notrunc 2> /dev/null
done
"$G" cache --json verify "$D" > "$W/out" 2>&1; check "verify damaged" 1 $?
contains "verify damaged" "$W/out" '"good":2,"bad":1'
"$G" cache get "$D" delta > "$W/out" 2>&1; check "get damaged" 1 $?
"$G" cache verify --repair "$D" > "$W/out" 2>&1; check "verify --repair" 1 $?
contains "verify --repair" "$W/out" "(removed)"
"$G" cache verify "$D" > "$W/out" 2>&1; check "verify repaired" 0 $?

"$G" cache clear "$D" > "$W/out" 2>&1; check "clear" 0 $?
"$G" cache get "$D" alpha > "$W/out" 2>&1; check "get after clear" 1 $?
"$G" cache --json stats "$D" > "$W/out" 2>&1; check "stats after clear" 0 $?
contains "stats after clear" "$W/out" '"entries":0,'

# a file that is not a cache: exit 1, the message names the path
mkdir -p "$W/foreign"
yes "not a database" | head -c 100000 > "$W/foreign/data.mdb"
"$G" cache stats "$W/foreign" > "$W/out" 2>&1; check "foreign" 1 $?
contains "foreign" "$W/out" "$W/foreign"
"$G" cache stats "$W/missing" > "$W/out" 2>&1; check "missing dir" 1 $?

"$G" cache > /dev/null 2>&1; check "no args" 2 $?
"$G" cache frob "$D" > "$W/out" 2>&1; check "bad subcommand" 2 $?
contains "bad subcommand" "$W/out" "frob"
"$G" cache get "$D" > /dev/null 2>&1; check "get without key" 2 $?
"$G" cache --bogus stats "$D" > "$W/out" 2>&1; check "bad option" 2 $?
contains "bad option" "$W/out" "--bogus"

[ "$fails" -eq 0 ] && echo "cache_cli: all checks passed"
exit $((fails > 0))
