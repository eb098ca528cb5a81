#!/bin/sh
# Runs each libFuzzer target for a bounded time on its committed seed corpus and ends with
# "N passed, M failed": a target that ran without a crash passed, one that crashed failed.
# Usage: sh fuzz/run.sh SECONDS TARGET...   (FUZZ_SEED=N replays a run's random seed)
# FUZZ_JOBS (2) targets run at a time, each on a core of its own for its full SECONDS; their
# reports come in the order the targets were given.
# New inputs go to a scratch corpus, never into fuzz/corpus; crashes are kept in build/fuzz/crashes
# and can be replayed with: build/fuzz/fuzz_TARGET build/fuzz/crashes/TARGET-crash-...
set -u
seconds=$1
shift
seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
out=build/fuzz
mkdir -p "$out/crashes"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fuzz: $seconds s per target, -seed=$seed"

# Runs target $1 and writes its report to $work/$1.out and 0 or 1 (failed) to $work/$1.failed.
run_target() {
  t=$1
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
    echo 0 > "$work/$t.failed"
    echo "fuzz $t: ok, ${execs:-?} executions in $seconds s (-seed=$seed)" > "$work/$t.out"
  else
    echo 1 > "$work/$t.failed"
    { echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} executions (-seed=$seed); its log:"
      grep -v '^#[0-9]' "$log" | tail -n 60; } > "$work/$t.out"
  fi
}

# A lane takes the next target nobody has claimed (mkdir is atomic) until none is left.
lane() {
  for t in "$@"; do
    mkdir "$work/claim.$t" 2>/dev/null && run_target "$t"
  done
}
i=0
while [ "$i" -lt "${FUZZ_JOBS:-2}" ]; do
  lane "$@" &
  i=$((i + 1))
done
wait

passed=0
failed=0
for t in "$@"; do
  if [ -f "$work/$t.out" ]; then
    cat "$work/$t.out"
  else
    echo "fuzz $t: FAILED (it never reported)" > "$work/$t.out"
    cat "$work/$t.out"
  fi
  if [ "$(cat "$work/$t.failed" 2>/dev/null)" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
