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
# suite_setup VAR: the keyetl binary under test in BIN (KEYETL_BIN, default build/keyetl, made
# absolute) and a fresh temporary folder in VAR, removed when the script exits.
suite_setup() {
  BIN=${KEYETL_BIN:-build/keyetl}
  case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
  local dir
  dir=$(mktmp)
  printf -v "$1" '%s' "$dir"
  # shellcheck disable=SC2064 # the path is fixed now
  trap "rm -rf '$dir'" EXIT
}
