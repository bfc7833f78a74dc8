#!/bin/sh
# Pipe a registry's Prometheus exposition through `promtool check metrics`.
# usage: promtool_check.sh DEMO_PROGRAM ; exit 77 (skip) without promtool.
set -eu
demo=${1:?usage: promtool_check.sh DEMO_PROGRAM}
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not installed (Debian package prometheus): skipped"
  exit 77
fi
out=$("$demo")
printf '%s\n' "$out" | head -20
printf '%s\n' "$out" | promtool check metrics
echo "promtool check metrics: ok"
