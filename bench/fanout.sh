#!/bin/bash
# bench/fanout.lua N, ROUNDS times (default 3), each in a process of its own (a run's heap and
# the simulator's are not the next run's), then the median of each column over the rounds.
# One run says little alone: on a shared VM, taskrun's CPU for the same run moves 10-30% from
# one minute to the next. Prints every round's baseline and fanout rows as fanout.lua does,
# then a "median" row for each and the ratios of the medians.
# Usage: bash bench/fanout.sh [N [BASE]]   (ROUNDS=3 TIMEOUT=5m to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
BASE=${2:-100}
ROUNDS=${ROUNDS:-3}
TIMEOUT=${TIMEOUT:-5m}
[ -x ./taskrun ] && [ -x ./taskrun-sim ] || { echo "bench/fanout.sh: run make first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for r in $(seq "$ROUNDS"); do
  ./taskrun --sim --quiet --timeout "$TIMEOUT" bench/fanout.lua "$N" "$BASE" >"$tmp/$r"
  if [ "$r" = 1 ]; then sed -n '/^fanout:/p; /^run /p' "$tmp/1"; fi
  grep -E '^(baseline|fanout) ' "$tmp/$r"
done

# The median of each numeric column of the rows labelled $1 (conns/open: each half alone).
median_row() {
  grep -h "^$1 " "$tmp"/[0-9]* | awk -v label=median '
    { for (i = 2; i <= NF; i++) {
        if ($i ~ /\//) { split($i, p, "/"); a[i, NR] = p[1]; b[i, NR] = p[2] }
        else a[i, NR] = $i
      } }
    function med(arr, i,    k, v, n, j, t) {
      n = 0
      for (k = 1; k <= NR; k++) v[++n] = arr[i, k]
      for (k = 2; k <= n; k++) for (j = k; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
        t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
      }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    END {
      printf "%-9s %7d %8.3f %8.3f %8.1f %9d %8d %8d %11s %7.0f %8.2f %8.1f\n", label,
        med(a, 2), med(a, 3), med(a, 4), med(a, 5), med(a, 6), med(a, 7), med(a, 8),
        med(a, 9) "/" med(b, 9), med(a, 10), med(a, 11), med(a, 12)
    }'
}
base=$(median_row baseline)
big=$(median_row fanout)
echo "$base"
echo "$big"
echo "$base $big" | awk -v rounds="$ROUNDS" '{
  printf "ratio fanout/baseline (medians of %d runs): waits x%.0f, wall x%.2f, taskrun CPU %.3f s, peak RSS %.1f MiB, CPU per request %.0f us (baseline %.0f us)\n",
    rounds, $14 / $2, $15 / $3, $16, $17, $22, $10 }'
