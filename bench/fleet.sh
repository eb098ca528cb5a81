#!/bin/sh
# A fleet's journal: 1,000 runs of 10 explicit steps each, started by 10 processes at once (10
# shell loops of 100 taskrun runs, each run a key of its own), against
#   none      --no-journal (the baseline: starting taskrun and running the steps)
#   sqlite    one SQLite journal in a state directory all 10 share (one host)
#   postgres  one PostgreSQL journal all 10 share (a fleet's: TASKRUN_JOURNAL_URL)
# alternating, ROUNDS times each (default 3). Prints the median wall time of the 1,000 runs, the
# throughput (runs/s), and the journal's share of the wall time: 1 - wall(none) / wall(mode).
#
# PostgreSQL: BENCH_PG_URL when given, else a throwaway cluster started here (as the postgres
# user under root) with the server's default durability (fsync on, synchronous_commit on), on
# this machine's disk, like SQLite's journal.
# Usage: sh bench/fleet.sh   (RUNS=1000 PROCS=10 STEPS=10 ROUNDS=3 to change them)
set -eu
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000}
PROCS=${PROCS:-10}
STEPS=${STEPS:-10}
ROUNDS=${ROUNDS:-3}
[ -x ./taskrun ] || { echo "bench/fleet.sh: run make first" >&2; exit 1; }

tmp=$(mktemp -d)
as=""
[ "$(id -u)" = 0 ] && as="runuser -u postgres --"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
cleanup() {
  if [ -f "$tmp/pg/data/postmaster.pid" ]; then
    $as "$bin/pg_ctl" -D "$tmp/pg/data" -m immediate stop >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

url=${BENCH_PG_URL:-}
if [ -z "$url" ]; then
  mkdir "$tmp/pg"
  # The server's user must reach its directory.
  [ -n "$as" ] && chown postgres: "$tmp" "$tmp/pg"
  $as "$bin/initdb" -D "$tmp/pg/data" -U taskrun -A trust -E UTF8 --locale=C --no-sync \
    >/dev/null 2>&1
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
  $as "$bin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w -o "-c port=$port \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories=$tmp/pg -c max_connections=100" \
    start >/dev/null
  "$bin/createdb" -h "$tmp/pg" -p "$port" -U taskrun taskrun
  url="postgresql://taskrun@127.0.0.1:$port/taskrun"
fi

code="for i = 1, $STEPS do taskrun.step('s' .. i, function() return i end) end"
per=$((RUNS / PROCS))

# one MODE ROUND: the wall seconds of RUNS runs by PROCS processes at once.
one() {
  mode=$1 round=$2
  rm -rf "$tmp/state"
  t0=$(date +%s.%N)
  p=1
  while [ "$p" -le "$PROCS" ]; do
    (
      k=1
      while [ "$k" -le "$per" ]; do
        case $mode in
          none) ./taskrun --quiet --no-journal -e "$code" ;;
          sqlite) ./taskrun --quiet --state-dir "$tmp/state" --run-id "r$round-$p-$k" -e "$code" ;;
          postgres) TASKRUN_JOURNAL_SCHEMA="bench_$round" ./taskrun --quiet --journal "$url" \
                      --run-id "r$round-$p-$k" -e "$code" ;;
        esac || echo "bench/fleet.sh: a $mode run failed" >&2
        k=$((k + 1))
      done
    ) &
    p=$((p + 1))
  done
  wait
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The schema of each round is created before it is timed (a fleet's journal exists already).
r=1
while [ "$r" -le "$ROUNDS" ]; do
  TASKRUN_JOURNAL_SCHEMA="bench_$r" ./taskrun --quiet --journal "$url" runs >/dev/null
  for mode in none sqlite postgres; do one "$mode" "$r" >>"$tmp/$mode"; done
  r=$((r + 1))
done

none=$(median <"$tmp/none")
printf '%-10s %8s %10s %14s\n' journal wall_s runs_per_s journal_share
for mode in none sqlite postgres; do
  w=$(median <"$tmp/$mode")
  awk -v m="$mode" -v w="$w" -v n="$none" -v runs="$RUNS" 'BEGIN {
    printf "%-10s %8.2f %10.1f %13.1f%%\n", m, w, runs / w, m == "none" ? 0 : 100 * (1 - n / w) }'
done
echo "$RUNS runs x $STEPS steps, $PROCS processes at once, median of $ROUNDS; machine: $(nproc)" \
  "cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
