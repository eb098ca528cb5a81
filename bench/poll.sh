#!/bin/bash
# Sequential polls, side by side in one run against one taskrun-sim: the same BlueXP job read
# N times in a row, one request at a time, by
#   taskrun        bench/poll.lua (taskrun.bluexp.job: request, JSON, Task)
#   libcurl        bench/curl_poll.c: libcurl alone, as taskrun uses it (a new easy handle per
#                  request, one multi handle keeping the connection, the same headers), no JSON:
#                  the floor under taskrun's own cost; and libcurl-32, the same with 32
#                  requests in flight at once (TASKRUN_MAX_INFLIGHT's default), the floor under
#                  bench/fanout.lua's CPU per request
#   python3        requests, one Session (keep-alive), .json() of each answer
#   curl+jq        one curl and one jq process per poll, as a shell script would
#   wrk -t1 -c1    the same GET on one connection for DURATION, the rate ceiling
# ROUNDS times (default 3), alternating; each row is the median of its rounds. CPU is each
# client's own: taskrun's and python's of their poll loop (in-process clocks, start-up left
# out), curl+jq's of all its processes (bash's `time`, start-ups included: that is its way to
# poll). The simulator's CPU per poll is measured around the taskrun rounds (/proc/PID/stat).
# Then: taskrun's CPU per poll against python's (the target is 1/30 or less) and libcurl's alone
# against python's, and taskrun's poll rate against wrk's (the target is 0.5x or more).
# Usage: bash bench/poll.sh   (N=3000 CURL_N=200 ROUNDS=3 DURATION=3s to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-3000}
CURL_N=${CURL_N:-200}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
for tool in python3 curl jq wrk; do
  command -v "$tool" >/dev/null || { echo "bench/poll.sh: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x ./taskrun ] && [ -x ./taskrun-sim ] || { echo "bench/poll.sh: run make first" >&2; exit 1; }
[ -x build/bench/curl_poll ] ||
  { echo "bench/poll.sh: run make build/bench/curl_poll first (make bench does)" >&2; exit 1; }
# A python3 without requests (a virtualenv's) is not the Debian one make deps set up.
PYTHON=python3
python3 -c 'import requests' 2>/dev/null || PYTHON=/usr/bin/python3
"$PYTHON" -c 'import requests' 2>/dev/null ||
  { echo "bench/poll.sh: python3 cannot import requests (make deps installs python3-requests)" >&2; exit 1; }

. bench/simulator.sh
start_simulator bench/poll.sh

job=bench-poll-1
curl -sf -o /dev/null -X POST "$url/_sim/tasks" -H 'Content-Type: application/json' \
  -d "{\"provider\":\"bluexp\",\"id\":\"$job\",\"mode\":\"poll\",\"steps\":[\"IN_PROGRESS\"]}"
target="$url/account/account-sim00001/providers/cloudmanager_cbs/api/v1/job/$job"
auth="Authorization: Bearer sim-bluexp-token"
agent="x-agent-id: simAgent0001clients"

# The simulator's CPU seconds so far (utime + stime; USER_HZ is 100).
sim_cpu() { awk '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / 100 }' "/proc/$sim/stat"; }

# Each runner appends "wall cpu" of one round to $tmp/NAME.
run_taskrun() {
  local before after
  before=$(sim_cpu)
  env -i PATH="$PATH" HOME="$tmp" BLUEXP_URL="$url" BLUEXP_TOKEN=sim-bluexp-token \
    BLUEXP_ACCOUNT_ID=account-sim00001 BLUEXP_AGENT_ID=simAgent0001clients \
    ./taskrun --quiet --no-journal bench/poll.lua "$N" "$job" | awk '{ print $3, $4 }' >>"$tmp/taskrun"
  after=$(sim_cpu)
  echo "$before $after" | awk -v n="$N" '{ print ($2 - $1) / n * 1e6 }' >>"$tmp/sim"
}

run_libcurl() {
  build/bench/curl_poll "$target" "$N" "$auth" "$agent" | awk '{ print $3, $4 }' >>"$tmp/libcurl"
  build/bench/curl_poll "$target" "$N" "$auth" "$agent" 32 |
    awk '{ print $3, $4 }' >>"$tmp/libcurl32"
}

run_python() {
  "$PYTHON" - "$target" "$N" >>"$tmp/python" <<'EOF'
import sys, time, requests
url, n = sys.argv[1], int(sys.argv[2])
s = requests.Session()
h = {"Authorization": "Bearer sim-bluexp-token", "x-agent-id": "simAgent0001clients",
     "Accept": "application/json"}
assert s.get(url, headers=h).json()["job"][0]["status"] == "IN_PROGRESS"
c0, t0 = time.process_time(), time.monotonic()
for _ in range(n):
    r = s.get(url, headers=h)
    r.raise_for_status()
    if r.json()["job"][0]["status"] != "IN_PROGRESS":
        sys.exit("the job left IN_PROGRESS")
print(time.monotonic() - t0, time.process_time() - c0)
EOF
}

run_curl() {
  local t0 t1 times
  t0=$(date +%s%N)
  TIMEFORMAT='%U %S'
  times=$( { time (
    for _ in $(seq "$CURL_N"); do
      state=$(curl -sf -H "$auth" -H "$agent" -H 'Accept: application/json' "$target" |
        jq -r '.job[0].status')
      [ "$state" = IN_PROGRESS ] || exit 1
    done
  ) ; } 2>&1 )
  t1=$(date +%s%N)
  echo "$t0 $t1 $times" | awk '{ print ($2 - $1) / 1e9, $3 + $4 }' >>"$tmp/curl"
}

run_wrk() {
  wrk -t1 -c1 -d"$DURATION" -H "$auth" -H "$agent" -H 'Accept: application/json' "$target" |
    awk '/Requests\/sec/ { print $2 }' >>"$tmp/wrk"
}

for _ in $(seq "$ROUNDS"); do
  run_taskrun
  run_libcurl
  run_python
  run_curl
  run_wrk
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { cut -d' ' -f"$2" "$tmp/$1" | median; }

echo "poll: one BlueXP job read in a row, median of $ROUNDS alternating rounds; $(nproc) cores," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); taskrun-sim shares them"
printf '%-10s %7s %9s %9s %12s %9s\n' client polls wall_s cpu_s cpu_us/poll polls/s
row() {   # name polls wall cpu
  awk -v c="$1" -v n="$2" -v w="$3" -v u="$4" 'BEGIN {
    printf "%-10s %7d %9.3f %9.3f %12.1f %9.0f\n", c, n, w, u, u / n * 1e6, n / w }'
}
row taskrun "$N" "$(col taskrun 1)" "$(col taskrun 2)"
row libcurl "$N" "$(col libcurl 1)" "$(col libcurl 2)"
row libcurl-32 "$N" "$(col libcurl32 1)" "$(col libcurl32 2)"
row python3 "$N" "$(col python 1)" "$(col python 2)"
row curl+jq "$CURL_N" "$(col curl 1)" "$(col curl 2)"
wrk_rate=$(median <"$tmp/wrk")
printf '%-10s %7s %9s %9s %12s %9.0f\n' "wrk-t1-c1" - "$DURATION" - - "$wrk_rate"
awk -v tw="$(col taskrun 1)" -v tc="$(col taskrun 2)" -v pc="$(col python 2)" -v n="$N" \
  -v lc="$(col libcurl 2)" -v w="$wrk_rate" -v s="$(median <"$tmp/sim")" 'BEGIN {
  printf "taskrun CPU per poll = 1/%.1f of python requests (target 1/30; libcurl alone 1/%.1f); " \
    "poll rate %.2fx wrk -t1 -c1 (target 0.5x); taskrun-sim %.1f us CPU per poll\n",
    pc / tc, pc / lc, n / tw / w, s }'
