#!/usr/bin/env bash
# Install a built tree into a temporary prefix and build a small program
# against it twice: through pkg-config and through the CMake package.
# usage: scripts/install-check.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/install-check.sh BUILD_DIR}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
echo "install-check: cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" > /dev/null
src="$here/examples/cache_manager.c"

echo "install-check: cc $src \$(pkg-config --cflags --libs gsperf)"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -o "$prefix/with-pc" "$src" $(pkg-config --cflags --libs gsperf)
LD_LIBRARY_PATH="$prefix/lib" "$prefix/with-pc" > /dev/null

echo "install-check: find_package(gsperf) in a CMake project"
mkdir -p "$prefix/proj"
cat > "$prefix/proj/CMakeLists.txt" <<CMK
cmake_minimum_required(VERSION 3.18)
project(usegsperf C)
find_package(gsperf REQUIRED)
add_executable(use $src)
target_link_libraries(use PRIVATE gsperf::gsperf)
CMK
cmake -S "$prefix/proj" -B "$prefix/proj/b" -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$prefix/proj/b" > /dev/null
LD_LIBRARY_PATH="$prefix/lib" "$prefix/proj/b/use" > /dev/null
echo "install-check: ok"
