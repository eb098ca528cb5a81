#!/bin/sh
# Runs each libFuzzer target for a bounded time on its committed seed corpus and ends with
# "N passed, M failed": a target that ran without a crash passed, one that crashed failed.
# Usage: sh fuzz/run.sh SECONDS TARGET...   (FUZZ_SEED=N replays a run's random seed)
# New inputs go to a scratch corpus, never into fuzz/corpus; crashes are kept in build/fuzz/crashes
# and can be replayed with: build/fuzz/fuzz_TARGET build/fuzz/crashes/TARGET-crash-...
set -u
seconds=$1
shift
seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
out=build/fuzz
mkdir -p "$out/crashes"
passed=0
failed=0
echo "fuzz: $seconds s per target, -seed=$seed"
for t in "$@"; do
  scratch=$(mktemp -d)
  log="$out/$t.log"
  # -timeout: one input running this long is a hang; -rss_limit_mb: ASan plus a 64 MiB body.
  "$out/fuzz_$t" -seed="$seed" -max_total_time="$seconds" -print_final_stats=1 -timeout=25 \
    -rss_limit_mb=4096 -max_len=65536 -artifact_prefix="$out/crashes/$t-" \
    "$scratch" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  rm -rf "$scratch"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $t: ok, ${execs:-?} executions in $seconds s (-seed=$seed)"
  else
    failed=$((failed + 1))
    echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} executions (-seed=$seed); its log:"
    grep -v '^#[0-9]' "$log" | tail -n 60
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
