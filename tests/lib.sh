# tests/lib.sh — helpers for shell test suites (source it).
# Each check prints "PASS name" / "FAIL name: why" / "SKIP name: why".
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }
# check NAME COMMAND...: PASS if the command succeeds, else FAIL with its last output line.
check() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 3 | tr '\n' ' ')"; fi
}
need_shared() {
  if [ -z "${KEYETL_SHARED:-}" ] || [ ! -d "$KEYETL_SHARED/data" ]; then
    skip "$1" "../shared is absent (golden data not available)"
    return 1
  fi
}
mktmp() { mktemp -d /tmp/keyetl-test.XXXXXX; }
