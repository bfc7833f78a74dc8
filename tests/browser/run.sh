#!/bin/sh
# run.sh - ctest's entry to the dashboard browser tests:
#   sh run.sh GSPERF WEB_DIR OUT_DIR [HOST | --report FILE]
# Without HOST: the dashboard of `gsperf serve` (charts, alerts, metrics).
# With HOST (tests/browser/dashboard_host): the cache and top-functions
# panels fed by a host doing real work. With --report FILE: the
# optimization report panel of `gsperf serve --report` for a known report.
# Skips (exit 77) only when Debian's chromium or web/node_modules/
# playwright-core is absent; never downloads a browser.
set -u
gsperf=$1 web=$2 out=$3 host=${4:-} report=
if [ "$host" = "--report" ]; then report=${5:?--report needs a FILE}; host=; fi
here=$(cd "$(dirname "$0")" && pwd)
chromium=${GSP_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then echo "SKIP: $chromium is absent (apt-get install chromium)"; exit 77; fi
if [ ! -d "$web/node_modules/playwright-core" ]; then
  echo "SKIP: $web/node_modules/playwright-core is absent (npm ci --prefix web)"; exit 77
fi
mkdir -p "$out"
pattern="serve"
if [ -n "$host" ]; then pattern="panels"; fi
if [ -n "$report" ]; then pattern="report"; fi
GSPERF_BIN=$gsperf GSP_HOST_BIN=$host GSP_REPORT=$report GSP_WEB_DIR=$web GSP_OUT_DIR=$out GSP_CHROMIUM=$chromium \
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 exec node --test --test-reporter=spec \
  --test-name-pattern="$pattern" "$here/dashboard.test.mjs"
