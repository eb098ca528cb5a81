#!/bin/sh
# Instructions per sequential poll, deterministic: bench/poll.lua under valgrind's callgrind,
# once with 0 polls and once with N (default 3000); the difference over N is one poll's cost
# (a provider read: request, response, JSON, Task) without start-up. Keeps the N-poll profile
# for callgrind_annotate. Then the same for libcurl alone (bench/curl_poll.c: the same GET, a new
# easy handle each time, no JSON), the floor under taskrun's own instructions.
# Usage: sh bench/poll_profile.sh [N] [OUT]   (OUT: the profile file, default
# build/poll.callgrind; callgrind_annotate --inclusive=yes OUT shows where the cost is)
set -eu
cd "$(dirname "$0")/.."
N=${1:-3000}
OUT=${2:-build/poll.callgrind}
command -v valgrind >/dev/null || { echo "bench/poll_profile.sh: valgrind is missing (make deps)" >&2; exit 1; }
[ -x ./taskrun ] && [ -x ./taskrun-sim ] && [ -x build/bench/curl_poll ] ||
  { echo "bench/poll_profile.sh: run make all build/bench/curl_poll first" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
. bench/simulator.sh
start_simulator bench/poll_profile.sh
job=bench-profile-1
curl -sf -o /dev/null -X POST "$url/_sim/tasks" -H 'Content-Type: application/json' \
  -d "{\"provider\":\"bluexp\",\"id\":\"$job\",\"mode\":\"poll\",\"steps\":[\"IN_PROGRESS\"]}"

# Instructions of one run of poll.lua with $1 polls; the profile goes to $2.
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$2" \
    ./taskrun --sim --quiet --no-journal bench/poll.lua "$1" >/dev/null 2>"$tmp/log"
  sed -n 's/.*Collected : *\([0-9,]*\).*/\1/p' "$tmp/log" | tr -d ,
}
# The same for bench/curl_poll.c against the simulator started above.
curl_instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/curl.callgrind" build/bench/curl_poll \
    "$url/account/account-sim00001/providers/cloudmanager_cbs/api/v1/job/$job" "$1" \
    "Authorization: Bearer sim-bluexp-token" "x-agent-id: simAgent0001clients" \
    >/dev/null 2>"$tmp/log"
  sed -n 's/.*Collected : *\([0-9,]*\).*/\1/p' "$tmp/log" | tr -d ,
}
zero=$(instructions 0 "$tmp/zero.callgrind")
full=$(instructions "$N" "$OUT")
curl_zero=$(curl_instructions 0)
curl_full=$(curl_instructions "$N")
echo "poll_profile: $N sequential polls (taskrun.bluexp.job) under callgrind"
awk -v z="$zero" -v f="$full" -v n="$N" -v cz="$curl_zero" -v cf="$curl_full" 'BEGIN {
  printf "instructions per poll %d (start-up %d, total %d); profile %s\n", (f - z) / n, z, f, ARGV[1]
  printf "libcurl alone (bench/curl_poll.c): %d per poll, %.0f%% of taskrun'"'"'s\n",
    (cf - cz) / n, (cf - cz) * 100 / (f - z) }' "$OUT"
