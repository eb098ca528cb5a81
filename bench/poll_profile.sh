#!/bin/sh
# Instructions per sequential poll, deterministic: bench/poll.lua under valgrind's callgrind,
# once with 0 polls and once with N (default 3000); the difference over N is one poll's cost
# (a provider read: request, response, JSON, Task) without start-up. Keeps the N-poll profile
# for callgrind_annotate.
# Usage: sh bench/poll_profile.sh [N] [OUT]   (OUT: the profile file, default
# build/poll.callgrind; callgrind_annotate --inclusive=yes OUT shows where the cost is)
set -eu
cd "$(dirname "$0")/.."
N=${1:-3000}
OUT=${2:-build/poll.callgrind}
command -v valgrind >/dev/null || { echo "bench/poll_profile.sh: valgrind is missing (make deps)" >&2; exit 1; }
[ -x ./taskrun ] && [ -x ./taskrun-sim ] || { echo "bench/poll_profile.sh: run make first" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Instructions of one run of poll.lua with $1 polls; the profile goes to $2.
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$2" \
    ./taskrun --sim --quiet --no-journal bench/poll.lua "$1" >/dev/null 2>"$tmp/log"
  sed -n 's/.*Collected : *\([0-9,]*\).*/\1/p' "$tmp/log" | tr -d ,
}
zero=$(instructions 0 "$tmp/zero.callgrind")
full=$(instructions "$N" "$OUT")
echo "poll_profile: $N sequential polls (taskrun.bluexp.job) under callgrind"
awk -v z="$zero" -v f="$full" -v n="$N" 'BEGIN {
  printf "instructions per poll %d (start-up %d, total %d); profile %s\n", (f - z) / n, z, f, ARGV[1] }' "$OUT"
