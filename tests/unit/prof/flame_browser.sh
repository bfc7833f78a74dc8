#!/bin/sh
# flame_browser.sh - flame.svg of a two-process `gsperf profile` run in a
# real browser (Debian's chromium through playwright-core from
# web/node_modules): self-contained, zoom, reset, search, fitted labels.
# usage: flame_browser.sh GSPERF WEB_DIR WORKDIR HOT3 PAIR
# Skips (77) when chromium or playwright-core is absent; never downloads.
set -u
gsperf=$1 web=$2 work=$3 hot3=$4 pair=$5
here=$(cd "$(dirname "$0")" && pwd)
chromium=${GSP_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "SKIP: $chromium is absent"; exit 77; }
[ -d "$web/node_modules/playwright-core" ] || { echo "SKIP: playwright-core is absent"; exit 77; }
rm -rf "$work"; mkdir -p "$work"
"$gsperf" profile --hz 499 --json -o "$work/out" -- sh -c "\"$hot3\" 0.6 & \"$pair\" 0.6; wait" \
  > "$work/out.json" || { echo "FAIL: gsperf profile exited $?"; exit 1; }
GSP_FLAME=$work/out/flame.svg GSP_JSON=$work/out.json GSP_WEB_DIR=$web GSP_CHROMIUM=$chromium \
  GSP_OUT_DIR=$work PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  exec node --test --test-reporter=spec "$here/flame_browser.test.mjs"
