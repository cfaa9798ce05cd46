#!/usr/bin/env bash
# Runs every test suite and prints one closing line "N passed, M failed, K skipped".
#
# A suite is a program that prints one line per test: "PASS name", "FAIL name: why" or
# "SKIP name: why". Suites: the unit tests (normal and ASan+UBSan builds) and every
# executable tests/<group>/*.sh script (golden, interop, cli, fuzz, ...).
# Set KEYETL_TEST_FILTER=substring to run only scripts whose path contains it.
set -u
cd "$(dirname "$0")/.."
export KEYETL_ROOT=$PWD
export KEYETL_BIN=$PWD/build/keyetl
export KEYETL_BIN_ASAN=$PWD/build-asan/keyetl
export KEYETL_STAGE_BIN=${KEYETL_STAGE_BIN:-$PWD/build/keyetl-stage}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -z "${KEYETL_SHARED:-}" ]; then
  for d in ../shared ../../shared; do [ -d "$d/spec" ] && { KEYETL_SHARED=$(cd "$d" && pwd); break; }; done
fi
export KEYETL_SHARED=${KEYETL_SHARED:-}
[ -z "$KEYETL_SHARED" ] && echo "NOTE: ../shared not found: golden tests on the shared data will be skipped"

results=$(mktemp)
trap 'rm -f "$results"' EXIT

run_suite() {
  local name=$1; shift
  echo "=== $name"
  local out rc
  out=$(mktemp)
  "$@" >"$out" 2>&1
  rc=$?
  # Show everything except the suites' own summary lines (only ours closes the run).
  grep -vE '^[0-9]+ passed, [0-9]+ failed' "$out"
  grep -E '^(PASS|FAIL|SKIP) ' "$out" >>"$results"
  if [ $rc -ne 0 ] && ! grep -qE '^FAIL ' "$out"; then
    echo "FAIL $name: exited with status $rc without reporting a failed test"
    echo "FAIL $name: exited with status $rc" >>"$results"
  fi
  rm -f "$out"
}

filter=${KEYETL_TEST_FILTER:-}
if [ -z "$filter" ]; then
  run_suite unit build/test_unit
  KEYETL_TEST_SUITE=asan run_suite unit-asan build-asan/test_unit
fi
for s in tests/*/*.sh; do
  [ -x "$s" ] || continue
  case "$s" in */lib*.sh) continue ;; esac
  [ -n "$filter" ] && [[ "$s" != *"$filter"* ]] && continue
  run_suite "$s" "$s"
done

p=$(grep -c '^PASS ' "$results"); f=$(grep -c '^FAIL ' "$results"); k=$(grep -c '^SKIP ' "$results")
echo
if [ "$f" -gt 0 ]; then echo "Failed:"; grep '^FAIL ' "$results"; echo; fi
if [ "$k" -gt 0 ]; then echo "Skipped:"; grep '^SKIP ' "$results"; echo; fi
echo "$p passed, $f failed, $k skipped"
[ "$f" -eq 0 ]
