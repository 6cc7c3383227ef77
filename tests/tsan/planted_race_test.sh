#!/usr/bin/env bash
# The tsan setup's own test (BUILD.bazel): runs planted_race's modes and checks what TSan says.
#   planted_race_test.sh tsan   (--config=tsan) the planted race is reported, naming the racy
#                               function; the synchronized modes run with no report; the same
#                               synchronized modes without the annotations (planted_race_bare)
#                               are reported, so their silence above is the annotations' doing.
#   planted_race_test.sh plain  (other builds) both programs were built without TSan, and the
#                               synchronized modes end with their exact values.
set -uo pipefail
expect="${1:?usage: planted_race_test.sh tsan|plain}"
dir="${TEST_SRCDIR}/${TEST_WORKSPACE}/tests/tsan"
annotated="${dir}/planted_race"
bare="${dir}/planted_race_bare"
out="${TEST_TMPDIR:-$(mktemp -d)}/out"
# Every report, not just the first; 66 is the exit status of a run with a report.
export TSAN_OPTIONS="halt_on_error=0:exitcode=66"
failures=0

fail() {
  echo "FAIL: $*"
  echo "---- its output:"
  cat "$out"
  echo "----"
  failures=$((failures + 1))
}

# run BINARY MODE: runs it, output in $out, exit status in $rc.
run() {
  "$1" "$2" >"$out" 2>&1
  rc=$?
}

for bin in "$annotated" "$bare"; do
  run "$bin" built
  if [ "$rc" -ne 0 ] || [ "$(cat "$out")" != "$expect" ]; then
    fail "$(basename "$bin") built: expected \"$expect\" (the build's config)"
  fi
done

expect_value() {  # BINARY MODE VALUE: a clean run that prints VALUE
  run "$1" "$2"
  if [ "$rc" -ne 0 ] || ! grep -qx "$3" "$out" || grep -q ThreadSanitizer "$out"; then
    fail "$(basename "$1") $2: expected a clean run printing $3 (exit $rc)"
  else
    echo "ok: $(basename "$1") $2: clean, $3"
  fi
}

expect_race() {  # BINARY MODE FRAME: a "data race" report naming FRAME, exit 66
  run "$1" "$2"
  if [ "$rc" -ne 66 ] || ! grep -q 'WARNING: ThreadSanitizer: data race' "$out" ||
     ! grep -q "$3" "$out"; then
    fail "$(basename "$1") $2: expected a data race reported in $3 (exit 66, got $rc)"
  else
    echo "ok: $(basename "$1") $2: data race reported in $3"
  fi
}

synchronized=("mutex counter=2000" "condvar value=42" "notification value=42"
              "lock_when value=42")

case "$expect" in
  tsan)
    expect_race "$annotated" wrong_mutex PlantedIncrement
    for case in "${synchronized[@]}"; do
      set -- $case
      expect_value "$annotated" "$1" "$2"
    done
    for case in "${synchronized[@]}"; do
      set -- $case
      frame=PlantedIncrement
      [ "$1" = mutex ] || frame=HandOver
      expect_race "$bare" "$1" "$frame"
    done
    ;;
  plain)
    for bin in "$annotated" "$bare"; do
      for case in "${synchronized[@]}"; do
        set -- $case
        expect_value "$bin" "$1" "$2"
      done
    done
    ;;
  *)
    echo "usage: planted_race_test.sh tsan|plain"
    exit 2
    ;;
esac

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
