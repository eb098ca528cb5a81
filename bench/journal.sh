#!/bin/sh
# What journaling costs: the same runbooks journaled and under --no-journal, alternating, ROUNDS
# times each (default 5), in one session on one machine; prints the median wall and CPU time of
# each and the journaled/--no-journal ratio.
#   - bench/fanout.lua 1000 (1,000 concurrent waits against the simulator)
#   - bench/steps.lua 1000 provider (1,000 explicit steps, each one provider read: bluexp.job)
#   - bench/steps.lua 1000 request (1,000 explicit steps, each one plain GET of the simulator)
#   - bench/steps.lua 1000 empty (1,000 explicit steps doing nothing: the journal's bare cost)
# Every run is under taskrun --sim (its own simulator); the steps' timings cover the loop only.
# Each run is pinned to one core (taskset -c $CPU, default 0; CPU= to leave runs unpinned) with
# its simulator: on a small VM, where taskrun and the simulator landed (one core or two, and
# which) moved a run's CPU time by 30-50% from one run to the next, far more than the journal's
# cost; pinned, runs repeat within a few per cent.
# Usage: sh bench/journal.sh   (ROUNDS=9 to change the default)
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
CPU=${CPU-0}
pin=""
if [ -n "$CPU" ]; then
  command -v taskset >/dev/null ||
    { echo "bench/journal.sh: taskset is missing (util-linux); CPU= runs unpinned" >&2; exit 1; }
  pin="taskset -c $CPU"
fi
[ -x ./taskrun ] && [ -x ./taskrun-sim ] || { echo "bench/journal.sh: run make first" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# run NAME MODE CMD...: appends "wall cpu" of one run to $tmp/NAME.MODE
run() {
  name=$1 mode=$2
  shift 2
  if [ "$mode" = journal ]; then flags="--state-dir $tmp/state --fresh"; else flags=--no-journal; fi
  case $name in
    fanout)
      # The N row of fanout.lua's table: "fanout 1000 wall cpu ..."
      $pin ./taskrun --sim --quiet --timeout 5m $flags bench/fanout.lua 1000 |
        awk '$1 == "fanout" { print $3, $4 }' >>"$tmp/$name.$mode" ;;
    *)
      $pin ./taskrun --sim --quiet $flags bench/steps.lua 1000 "${name#steps-}" |
        awk '$1 == "steps" { print $5, $7 }' >>"$tmp/$name.$mode" ;;
  esac
}

printf '%-14s %10s %10s %10s %10s %8s %8s\n' bench wall_off cpu_off wall_on cpu_on wall_x cpu_x
for name in fanout steps-provider steps-request steps-empty; do
  i=0
  while [ "$i" -lt "$ROUNDS" ]; do
    run "$name" off
    run "$name" journal
    i=$((i + 1))
  done
  wo=$(cut -d' ' -f1 "$tmp/$name.off" | median); co=$(cut -d' ' -f2 "$tmp/$name.off" | median)
  wj=$(cut -d' ' -f1 "$tmp/$name.journal" | median); cj=$(cut -d' ' -f2 "$tmp/$name.journal" | median)
  awk -v n="$name" -v wo="$wo" -v co="$co" -v wj="$wj" -v cj="$cj" 'BEGIN {
    printf "%-14s %10.4f %10.4f %10.4f %10.4f %8.3f %8.3f\n", n, wo, co, wj, cj, wj / wo, cj / co }'
done
echo "pinned to: ${CPU:-none}; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
