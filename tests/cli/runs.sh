#!/usr/bin/env bash
# CLI tests for runs, versions and configuration (spec 05 §1–§4).
# The stages themselves are not needed: a run on a missing source fails in `download`,
# which is enough to exercise recording; success paths are covered by the unit tests
# (tests/unit/test_runner.c, with fake stages). Version states the CLI cannot produce
# without real stages (completed / current) are set up with the sqlite3 shell.
set -u
. "$(dirname "$0")/../lib.sh"
suite_setup T
if [ ! -x "$BIN" ]; then fail runs/binary "$BIN not built"; exit 0; fi
if ! command -v sqlite3 >/dev/null; then skip runs/all "sqlite3 shell not installed"; exit 0; fi
cd "$T"
K() { "$BIN" "$@"; }
expect() { # expect NAME CODE CMD...
  local name=$1 code=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" = "$code" ]; then pass "$name"; else fail "$name" "exit $rc, wanted $code: $(echo "$out" | tail -n 2 | tr '\n' ' ')"; fi
}
tree() { [ -e "$1" ] && find "$1" -printf '%p %s %T@\n' | sort; }
DB=artifacts/catalog.sqlite
q() { sqlite3 "$DB" "$1"; }

# ---- invocation errors: exit 2, nothing created ------------------------------------------
expect runs/help 0 K run --help
expect runs/unknown-option 2 K run --frobnicate
expect runs/positional 2 K run extra
expect runs/llm-flag 2 K run --with-llm-check
expect runs/upload-flag 2 K run --upload-artifacts
expect runs/llm-stage 2 K run --mode full -s download -s llm_check --source x
out=$(K run -s nonsense --source x 2>&1)
case $out in *"download, clean, keypairs, kvc, features, top_il, eda"*) pass runs/unknown-stage-lists-names ;;
  *) fail runs/unknown-stage-lists-names "$out" ;; esac
out=$(K run --mode full -s clean 2>&1); rc=$?
if [ $rc = 2 ] && [[ $out == *"Missing dependencies for clean: download"* ]] && [ ! -e artifacts ]; then
  pass runs/missing-dependency; else fail runs/missing-dependency "rc=$rc $out"; fi
expect runs/incr-without-version 2 K run --mode incr
expect runs/force-without-current 2 K run --mode force
expect runs/no-source 2 K run --mode full
# output lost to a full disk is a failure (exit 1, message), not a silent success
if [ -w /dev/full ]; then
  for args in "--help" "config show" "versions list"; do
    # shellcheck disable=SC2086
    err=$(K $args 2>&1 >/dev/full); rc=$?
    if [ $rc = 1 ] && [[ $err == *"cannot write standard output: No space left on device"* ]]; then
      pass "runs/stdout-full-disk ($args)"; else fail "runs/stdout-full-disk ($args)" "rc=$rc $err"; fi
  done
else
  skip runs/stdout-full-disk "/dev/full not writable"
fi
expect runs/local-only-s3 2 K run --mode full --source s3://bucket/uploads/ --local-only
expect runs/bad-setting 2 K run --source x --set TOP_K=0
expect runs/bad-bool 2 K run --source x --set INCLUDE_PII=maybe
expect runs/unknown-set-key 2 K run --source x --set NO_SUCH_KEY=1
expect runs/bad-version-id 2 K run --source x --version-id "../evil"
out=$(K run --source x --set METADATA_BACKEND=postgres 2>&1); rc=$?
if [ $rc = 2 ] && [[ $out == *"not built with PostgreSQL support"* ]]; then pass runs/postgres-not-built
else fail runs/postgres-not-built "rc=$rc $out"; fi
if [ ! -e artifacts ]; then pass runs/errors-leave-no-trace; else fail runs/errors-leave-no-trace "artifacts created"; fi

# ---- dry run on an empty place: no catalog, no folder ------------------------------------
out=$(K run --source src --dry-run 2>&1); rc=$?
if [ $rc = 0 ] && [[ $out == *"would be created"* ]] && [ ! -e artifacts ]; then pass runs/dry-run-fresh
else fail runs/dry-run-fresh "rc=$rc"; fi

# ---- failure recording --------------------------------------------------------------------
expect runs/failed-run-exit-1 1 K run --source "$T/missing-src" --quiet
VID=$(K versions list --format ids | head -n 1)
if [ -n "$VID" ] && [ "$(q "select status from versions where id='$VID'")" = failed ] &&
   [ "$(q "select json_extract(record,'\$.failed_stage') from versions where id='$VID'")" = download_data ] &&
   [ -n "$(q "select json_extract(record,'\$.error') from versions where id='$VID'")" ] &&
   [ "$(q "select json_extract(record,'\$.stages.download_data.status') from versions where id='$VID'")" = failed ]
then pass runs/failure-recorded; else fail runs/failure-recorded "record: $(q "select record from versions")"; fi
if ls artifacts/"$VID"/logs/pipeline_*.log >/dev/null 2>&1 &&
   grep -q "PIPELINE EXECUTION LOG" artifacts/"$VID"/logs/pipeline_*.log &&
   grep -q "Failed download_data: " artifacts/"$VID"/logs/pipeline_*.log; then pass runs/log-file
else fail runs/log-file "no log"; fi

# ---- dry run after a version exists: byte- and time-identical tree -----------------------
before=$(tree artifacts)
K run --source "$T/missing-src" --dry-run >/dev/null 2>&1
K run --mode full --source "$T/missing-src" --dry-run >/dev/null 2>&1
K run --mode incr --dry-run --source "$T/missing-src" >/dev/null 2>&1
after=$(tree artifacts)
if [ "$before" = "$after" ]; then pass runs/dry-run-no-trace; else fail runs/dry-run-no-trace "tree changed"; fi
out=$(K run --source "$T/missing-src" --dry-run 2>&1)
if [[ $out == *"incr (resuming failed version $VID)"* ]]; then pass runs/default-mode-resumes
else fail runs/default-mode-resumes "$out"; fi
out=$(K run --source "$T/other-src" --dry-run 2>&1)
if [[ $out == *"full (new version)"* ]]; then pass runs/default-mode-new-source-full
else fail runs/default-mode-new-source-full "$out"; fi

# ---- second run resumes, log gets a second file -------------------------------------------
expect runs/resume-failed 1 K run --source "$T/missing-src" --quiet
n=$(ls artifacts/"$VID"/logs | wc -l)
if [ "$n" = 2 ] && [ "$(K versions list --format ids | wc -l)" = 1 ]; then pass runs/resume-same-version
else fail runs/resume-same-version "logs=$n"; fi

# ---- lock: a live process holds the version → exit 3 --------------------------------------
sleep 300 & HOLDER=$!
q "insert into run_locks(version_id,pid,host,acquired_at) values('$VID',$HOLDER,'$(uname -n)','now')"
before=$(q "select record from versions where id='$VID'")
expect runs/busy-run 3 K run --mode incr --source "$T/missing-src"
expect runs/busy-delete 3 K versions delete "$VID"
expect runs/busy-archive 3 K versions archive "$VID"
[ "$before" = "$(q "select record from versions where id='$VID'")" ] && pass runs/busy-unchanged || fail runs/busy-unchanged "record changed"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
# the holder is gone: its lock is stale and taken over
expect runs/stale-lock-taken-over 1 K run --mode incr --source "$T/missing-src" --quiet
[ -z "$(q "select pid from run_locks where version_id='$VID'")" ] && pass runs/lock-released || fail runs/lock-released "lock row left"

# ---- concurrent runs share one catalog -----------------------------------------------------
for i in 1 2 3 4; do K run --mode full --source "$T/missing-src" --quiet >/dev/null 2>&1 & done
wait
if [ "$(q 'pragma integrity_check')" = ok ] && [ "$(q 'select count(*) from versions')" = 5 ] &&
   [ "$(q "select count(distinct id) from versions")" = 5 ]; then pass runs/concurrent-runs
else fail runs/concurrent-runs "$(q 'select id,status from versions')"; fi

# ---- versions commands ---------------------------------------------------------------------
out=$(K versions list); rc=$?
if [ $rc = 0 ] && [[ $out == *"0/7 stages completed"* ]]; then pass runs/versions-list-table
else fail runs/versions-list-table "$out"; fi
n=$(K versions list --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d), sorted(d[0].keys()))')
[ "$n" = "5 ['completed_at', 'created_at', 'id', 'stages_completed', 'status']" ] && pass runs/versions-list-json || fail runs/versions-list-json "$n"
[ "$(K versions list --limit 2 --format ids | wc -l)" = 2 ] && pass runs/versions-list-limit || fail runs/versions-list-limit ""
expect runs/versions-list-bad-status 2 K versions list --status weird
expect runs/versions-show-unknown 2 K versions show nope
expect runs/versions-current-none 2 K versions current
expect runs/versions-no-sub 2 K versions
# an in_progress version whose lock is free shows as interrupted
q "update versions set status='in_progress', record=json_set(record,'\$.status','in_progress') where id='$VID'"
K versions list | grep "^$VID" | grep -q "in_progress (interrupted)" && pass runs/versions-interrupted || fail runs/versions-interrupted "$(K versions list)"
# make VID completed and current (needs real stages otherwise)
q "update versions set status='completed', record=json_set(record,'\$.status','completed','\$.completed_at','2030-01-01T00:00:00.000000') where id='$VID'"
q "insert or replace into current_version(one,version_id) values(1,'$VID')"
[ "$(K versions current)" = "$VID" ] && pass runs/versions-current || fail runs/versions-current ""
K versions show "$VID" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert list(d)[:4]==["id","created_at","updated_at","status"]' \
  && pass runs/versions-show || fail runs/versions-show ""
[ "$(K versions list --status completed --format ids)" = "$VID" ] && pass runs/versions-list-status || fail runs/versions-list-status ""
expect runs/delete-current-refused 2 K versions delete "$VID"
rm -rf exp
expect runs/export 0 K versions export exp
if [ -f "exp/versions/$VID.json" ] && [ "$(cat exp/current_version.txt)" = "$VID" ] &&
   /usr/bin/python3 -c "import json; s=json.load(open('exp/versions_successful.json')); f=json.load(open('exp/versions_failed.json')); assert list(s['versions'])==['$VID'] and len(f['versions'])==4"
then pass runs/export-files; else fail runs/export-files "$(ls -R exp)"; fi
OTHER=$(K versions list --status failed --format ids | head -n 1)
expect runs/archive 0 K versions archive "$OTHER"
[ "$(q "select status from versions where id='$OTHER'")" = archived ] &&
  [ -n "$(q "select json_extract(record,'\$.archived_at') from versions where id='$OTHER'")" ] &&
  ! K versions list --format ids | grep -q "$OTHER" && K versions list --status archived --format ids | grep -q "$OTHER" \
  && pass runs/archive-hidden || fail runs/archive-hidden ""
[ -d "artifacts/$OTHER" ] && pass runs/archive-keeps-artifacts || fail runs/archive-keeps-artifacts ""
expect runs/archived-not-runnable 2 K run --mode incr --version-id "$OTHER"
expect runs/delete-current-force 0 K versions delete "$VID" --force --artifacts
if [ ! -d "artifacts/$VID" ] && ! K versions current >/dev/null 2>&1 && [ -z "$(q "select id from versions where id='$VID'")" ]
then pass runs/delete-artifacts; else fail runs/delete-artifacts ""; fi
expect runs/delete-unknown 2 K versions delete "$VID"

# ---- configuration precedence and config show -----------------------------------------------
mkdir -p cfgt/config && cd cfgt
printf 'TOP_K=2\nBATCH_SIZE=3\nINCLUDE_PII=yes\nPROJECT_ID=fpd  # python key\nAWS_SECRET_ACCESS_KEY="s3cr3t"\n' > config/.env
printf 'BATCH_SIZE=4\nDEVICE_TYPES=Desktop, mobile\n' > config/.env.local
out=$(DEVICE_TYPES=mobile KEEP_OUTLIERS=on "$BIN" config show --set TOP_K=5 --set TOP_K=6 2>&1); rc=$?
line() { echo "$out" | grep "^$1 " | tr -s ' '; }
if [ $rc = 0 ] && [ "$(line TOP_K)" = "TOP_K 6 command line" ] && [ "$(line BATCH_SIZE)" = "BATCH_SIZE 4 config/.env.local" ] &&
   [ "$(line INCLUDE_PII)" = "INCLUDE_PII true config/.env" ] && [ "$(line DEVICE_TYPES)" = "DEVICE_TYPES mobile environment" ] &&
   [ "$(line KEEP_OUTLIERS)" = "KEEP_OUTLIERS true environment" ] && [ "$(line S3_REGION)" = "S3_REGION us-east-1 default" ]
then pass runs/config-precedence; else fail runs/config-precedence "$out"; fi
if [[ $out == *"***REDACTED***"* ]] && [[ $out != *s3cr3t* ]]; then pass runs/config-redacted; else fail runs/config-redacted ""; fi
"$BIN" config show --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["TOP_K"]=={"value":"2","source":"config/.env"}' \
  && pass runs/config-json || fail runs/config-json ""
out=$("$BIN" config show --set LOG_LEVEL=DEBUG 2>&1 >/dev/null)
[[ $out == *"ignoring unknown key PROJECT_ID"* ]] && pass runs/config-unknown-key-debug || fail runs/config-unknown-key-debug "$out"
expect runs/config-unknown-set 2 "$BIN" config show --set NOPE=1
printf 'JUST TEXT\n' >> config/.env.local
out=$("$BIN" config show 2>&1); rc=$?
[ $rc = 2 ] && [[ $out == *"config/.env.local:3"* ]] && pass runs/config-syntax-error || fail runs/config-syntax-error "rc=$rc $out"
expect runs/run-syntax-error 2 "$BIN" run --source x
out=$("$BIN" config show --config-dir nowhere 2>&1); rc=$?
[ $rc = 0 ] && echo "$out" | grep -q "^TOP_K  *10  *default" && pass runs/config-missing-files-ok || fail runs/config-missing-files-ok "$out"
printf 'TOP_K=7\n' > .env
out=$("$BIN" config show --config-dir nowhere 2>&1)
echo "$out" | grep -q "^TOP_K  *7  *./.env" && [[ $out == *WARNING*"reading ./.env instead"* ]] \
  && pass runs/config-dotenv-fallback || fail runs/config-dotenv-fallback "$out"
printf 'INCLUDE_PII=perhaps\n' > config/.env.local
out=$("$BIN" config show 2>&1); rc=$?
[ $rc = 2 ] && [[ $out == *"invalid value for INCLUDE_PII: 'perhaps'"* ]] && pass runs/config-bad-bool || fail runs/config-bad-bool "$out"
