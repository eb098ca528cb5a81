#!/bin/sh
# Loads one Redpanda status GET on ./taskrun-sim with wrk, at 1 and then 64 connections, and
# prints requests/second and latency for each. Loopback only; about 2 x DURATION seconds.
# Usage: sh bench/sim.sh   (DURATION=10s SIM_THREADS=2 to change the defaults)
set -eu
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
SIM_THREADS=${SIM_THREADS:-2}
command -v wrk >/dev/null || { echo "bench/sim.sh: wrk is missing (make deps)" >&2; exit 1; }
[ -x ./taskrun-sim ] || { echo "bench/sim.sh: build ./taskrun-sim first (make)" >&2; exit 1; }

. bench/simulator.sh
start_simulator bench/sim.sh --threads "$SIM_THREADS"

# A task that stays in one state, so every GET is a 200 with the same body.
# (Made with taskrun itself: curl is not among the build's packages.)
./taskrun -e 'local res = taskrun.http.post(arg[1] .. "/_sim/tasks", { json = { provider = "redpanda",
  id = 7, steps = { "STATE_EXECUTING" } } })
  assert(res.status == 201, "the simulator refused the task: " .. res.status .. " " .. res.body)' "$url"
target="$url/v1/cloud-storage/mount-tasks/7"

echo "taskrun-sim GET /v1/cloud-storage/mount-tasks/7, $DURATION per run, sim threads" \
  "$SIM_THREADS, $(nproc) cores shared with wrk"
printf '%-12s %12s %10s %10s %10s %8s\n' connections req/s avg p50 p99 non-2xx
for conns in 1 64; do
  threads=1
  [ "$conns" -gt 1 ] && threads=2
  wrk -t"$threads" -c"$conns" -d"$DURATION" --latency \
    -H "Authorization: Bearer sim-redpanda-token" "$target" >"$tmp/wrk.txt"
  awk -v conns="$conns" '
    /Requests\/sec/ { rps = $2 }
    $1 == "Latency" && avg == "" { avg = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx/ { bad = $NF }
    END {
      printf "%-12s %12s %10s %10s %10s %8s\n", conns, rps, avg, p50, p99, bad == "" ? 0 : bad
    }
  ' "$tmp/wrk.txt"
done
