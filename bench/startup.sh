#!/bin/sh
# Start-up cost: `taskrun -e ''` next to `lua5.4 -e ''` (the baseline), run the same number of
# times in the same run, and the ratio. Most of the difference is the dynamic loader mapping
# libcurl and its TLS/HTTP2/IDN libraries.
# Usage: sh bench/startup.sh   (RUNS=500 to change the default)
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-300}
[ -x ./taskrun ] || { echo "bench/startup.sh: build ./taskrun first (make)" >&2; exit 1; }

# Milliseconds for one run of "$@", averaged over RUNS runs.
per_run_ms() {
  start=$(date +%s%N)
  i=0
  while [ "$i" -lt "$RUNS" ]; do "$@" >/dev/null; i=$((i + 1)); done
  end=$(date +%s%N)
  echo "$(( (end - start) / RUNS / 1000 ))" | awk '{ printf "%.2f", $1 / 1000 }'
}

lua_ms=$(per_run_ms lua5.4 -e '')
taskrun_ms=$(per_run_ms ./taskrun -e '')
echo "start-up, mean of $RUNS runs, $(nproc) cores"
echo "lua5.4 -e ''   $lua_ms ms (baseline)"
echo "taskrun -e ''  $taskrun_ms ms"
awk -v a="$taskrun_ms" -v b="$lua_ms" 'BEGIN { printf "ratio          %.1fx\n", a / b }'
