#!/usr/bin/env bash
# fuzz.sh TIME PKG:TARGET...: runs each fuzz target for TIME (go test -fuzz takes one
# package and one target at a time) and fails on the first real finding.
#
# Go before 1.27 sometimes ends a -fuzztime run with a bare "context deadline exceeded"
# (golang/go#75804: the coordinator's deadline races a busy worker at the end of the
# window); that is no finding: nothing is written to testdata/fuzz. Such a run is repeated
# once. A run that wrote a failing input, panicked or hung fails at once.
set -uo pipefail
time=$1
shift
go=${GO:-go}
for t in "$@"; do
  pkg=${t%%:*} name=${t##*:}
  for attempt in 1 2; do
    echo "== $name ($pkg) for $time"
    log=$(mktemp)
    "$go" test -run '^$' -fuzz "^$name\$" -fuzztime "$time" "$pkg" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
      rm -f "$log"
      break
    fi
    if [ "$attempt" -eq 1 ] && grep -q 'context deadline exceeded' "$log" &&
      ! grep -qE 'Failing input written|panic:|hung or terminated' "$log"; then
      echo "== $name: the run ended with Go's fuzztime deadline race (golang/go#75804), no failing input; once more"
      rm -f "$log"
      continue
    fi
    rm -f "$log"
    exit "$rc"
  done
done
