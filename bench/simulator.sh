# Sourced by the benchmarks that load a simulator of their own: start_simulator NAME [ARGS...]
# starts ./taskrun-sim on a free port with ARGS, waits for its URL, and sets
#   tmp  a scratch directory, removed when the script ends
#   sim  the simulator's pid (stopped when the script ends)
#   url  its base URL
# NAME (the benchmark's) is what a failure message starts with.
start_simulator() {
  name=$1
  shift
  tmp=$(mktemp -d)
  ./taskrun-sim --port 0 "$@" >"$tmp/url" 2>"$tmp/sim.log" &
  sim=$!
  trap stop_simulator EXIT INT TERM
  url=""
  for _ in $(seq 100); do
    url=$(head -n 1 "$tmp/url")
    [ -n "$url" ] && break
    sleep 0.05
  done
  if [ -z "$url" ]; then
    echo "$name: taskrun-sim did not start" >&2
    cat "$tmp/sim.log" >&2
    exit 1
  fi
}

stop_simulator() {
  kill "$sim" 2>/dev/null || true
  wait "$sim" 2>/dev/null || true
  rm -rf "$tmp"
}
