# Shell helpers the benchmark scripts share; source it, don't run it.

# wait_ready NAME URL PID LOG: polls URL until it answers 2xx (up to 20 s);
# if the process PID exits first or time runs out, prints the last lines of
# LOG and exits 1.
wait_ready() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.2
  done
  echo "$1 did not become ready at $2; its log:" >&2
  tail -20 "$4" >&2
  exit 1
}
