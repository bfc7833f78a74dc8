#!/bin/sh
# run.sh - ctest's entry to the dashboard browser tests:
#   sh run.sh GSPERF WEB_DIR OUT_DIR [HOST]
# Without HOST: the dashboard of `gsperf serve` (charts, alerts, metrics).
# With HOST (tests/browser/dashboard_host): the cache and top-functions
# panels fed by a host doing real work.
# Skips (exit 77) only when Debian's chromium or web/node_modules/
# playwright-core is absent; never downloads a browser.
set -u
gsperf=$1 web=$2 out=$3 host=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
chromium=${GSP_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then echo "SKIP: $chromium is absent (apt-get install chromium)"; exit 77; fi
if [ ! -d "$web/node_modules/playwright-core" ]; then
  echo "SKIP: $web/node_modules/playwright-core is absent (npm ci --prefix web)"; exit 77
fi
mkdir -p "$out"
if [ -n "$host" ]; then pattern="panels"; else pattern="serve"; fi
GSPERF_BIN=$gsperf GSP_HOST_BIN=$host GSP_WEB_DIR=$web GSP_OUT_DIR=$out GSP_CHROMIUM=$chromium \
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 exec node --test --test-reporter=spec \
  --test-name-pattern="$pattern" "$here/dashboard.test.mjs"
