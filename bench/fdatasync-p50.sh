#!/usr/bin/env bash
# How long a running `gt serve` waits in fdatasync(2): the device's share of a durable
# acknowledgement, which bounds what ingest can answer at one connection (a stored
# delivery is acknowledged only after the fdatasync of its COMMIT returned).
#
#   bash bench/fdatasync-p50.sh <pid of gt serve> [seconds, default 5]
#
# Run it while a load runs (`gt bench ingest --url ...`, or wrk with bench/wrk-ingest.lua).
# Needs Linux `perf` and the right to trace the process (root, or perf_event_paranoid).
# Prints the calls seen and their p50/p90/p99 in ms, per thread kind: the writer's and
# callers' commits (and the writer's own checkpoint passes), and the checkpointer's
# flushes of the database file.
set -euo pipefail
pid=${1:?usage: fdatasync-p50.sh <pid> [seconds]}
secs=${2:-5}
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
# perf ends by the timeout's SIGINT, so its status says nothing; what it printed does.
timeout -s INT "$secs" perf trace -e fdatasync -p "$pid" -o "$out" >/dev/null 2>"$err" || true
if ! grep -q 'fdatasync(' "$out"; then
  echo "no fdatasync seen in ${secs} s: is $pid a gt serve under load?" >&2
  sed 's/^/perf: /' "$err" "$out" >&2  # with -o, perf writes its own errors there
  exit 1
fi
# A line reads: "  12.345 ( 0.155 ms): tokio-rt-worker/4242 fdatasync(fd: 9) = 0".
awk '/fdatasync\(/ && match($0, /\( *[0-9.]+ ms\)/) {
       kind = ($0 ~ /gt-store-check/) ? "checkpointer" : "commits"
       print kind, substr($0, RSTART + 1, RLENGTH - 5) + 0
     }' "$out" | sort -k1,1 -k2,2g | awk '
  { kind[NR] = $1; ms[NR] = $2 }
  function report(from, to,   m) {
    m = to - from + 1
    printf "%-12s calls=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f\n", kind[from], m,
      ms[from + int(m * 0.50)], ms[from + int(m * 0.90)], ms[from + int(m * 0.99)]
  }
  END {
    start = 1
    for (i = 2; i <= NR + 1; i++) if (i > NR || kind[i] != kind[start]) { report(start, i - 1); start = i }
  }'
