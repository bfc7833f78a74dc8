#!/bin/sh
# Run bench_dist under mpirun with 2 and then 4 ranks on this machine.
# usage: bench/dist/run.sh BUILD_DIR
set -eu
b=${1:?usage: run.sh BUILD_DIR}
root=""
[ "$(id -u)" = 0 ] && root="--allow-run-as-root"
for np in 2 4; do
  echo "=== mpirun -np $np"
  mpirun -np "$np" --oversubscribe $root --mca btl self,vader "$b/bench/dist/bench_dist"
done
