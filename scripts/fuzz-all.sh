#!/usr/bin/env bash
# Runs each libFuzzer target of build-fuzz/ for SECONDS, JOBS at a time (make fuzz): a fuzzer
# uses one core, so two cores fuzz two targets at once. Each run's output goes to
# build-fuzz/fuzz-<target>.log and is printed when it ends; a crash, a timeout or an
# out-of-memory fails the whole run after the others finish, with the input saved by libFuzzer
# (crash-*, timeout-*, oom-*) in the working directory.
# Usage: scripts/fuzz-all.sh SECONDS JOBS TARGET...
set -euo pipefail
seconds=$1 jobs=$2
shift 2
export seconds
run_one() {
  local t=$1 log=build-fuzz/fuzz-$1.log status=0
  mkdir -p "build-fuzz/corpus-$t"
  build-fuzz/bin/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "build-fuzz/corpus-$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || status=$?
  # One target's report at a time, whole.
  {
    flock 9
    if [ "$status" -eq 0 ]; then
      echo "fuzz $t: ${seconds} s, no crash ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions)"
    else
      echo "fuzz $t: FAILED (exit $status); the end of $log:"
      tail -n 40 "$log"
    fi
  } 9>build-fuzz/.fuzz-report.lock
  return "$status"
}
export -f run_one
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}
