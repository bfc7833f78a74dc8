#!/usr/bin/env bash
# Install the Debian packages listed in deps/apt-packages.txt that are not
# installed yet, then the npm packages of web/ and grammars/ (from their lock
# files) when node_modules is absent or older than the lock file.
# Idempotent; prints what it does. Needs root (or sudo) for apt.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/deps/apt-packages.txt"

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
missing=()
# Names that installed packages provide (e.g. a nodejs from NodeSource
# provides, and conflicts with, Debian's npm): such a name counts as there.
provided=$(dpkg-query -W -f='${Status}\t${Provides}\n' 2>/dev/null |
  awk -F'\t' '$1 ~ /install ok installed/ {print $2}' | tr ',' '\n' |
  sed -e 's/(.*//' -e 's/[[:space:]]//g' | sort -u)
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' &&
    ! grep -qx -- "$p" <<< "$provided"; then
    missing+=("$p")
  fi
done

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "deps: installing ${missing[*]}"
  echo "deps: apt-get update"
  $sudo apt-get update -qq
  echo "deps: apt-get install -y --no-install-recommends ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#wanted[@]} packages from deps/apt-packages.txt are installed"
else
  apt_install
fi

# npm packages, each folder exactly as its package-lock.json pins them:
# web/ (the dashboard: uPlot, embedded at build time; playwright-core for
# the browser test; no browser is downloaded, the test drives Debian's
# chromium) and grammars/ (tree-sitter grammars compiled into the library).
for dir in web grammars; do
  d="$here/$dir"
  [ -f "$d/package-lock.json" ] || continue
  if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules" ]; then
    echo "deps: npm ci --prefix $dir (from $dir/package-lock.json)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$d" --ignore-scripts --no-audit --no-fund --loglevel=error
    touch "$d/node_modules"
  else
    echo "deps: $dir/node_modules is up to date with $dir/package-lock.json"
  fi
done
echo "deps: done"
