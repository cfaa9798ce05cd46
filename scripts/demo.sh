#!/usr/bin/env bash
# make demo: generate a small synthetic snapshot and run the whole pipeline on it.
#   DEMO_USERS (default 30), DEMO_SEED (default 2025), DEMO_DIR (default demo-data)
set -eu
cd "$(dirname "$0")/.."
BIN=build/keyetl
DIR=${DEMO_DIR:-demo-data}
USERS=${DEMO_USERS:-30}
SEED=${DEMO_SEED:-2025}
rm -rf "$DIR/web_app_data"
echo "== generating $USERS synthetic users (seed $SEED) into $DIR/web_app_data"
"$BIN" synth --users "$USERS" --seed "$SEED" "$DIR/web_app_data"
echo "== running the pipeline"
rc=0
"$BIN" run --source "$DIR/web_app_data" --artifacts-dir "$DIR/artifacts" || rc=$?
echo
echo "Outputs: $DIR/artifacts/<version id>/"
ls -1 "$DIR/artifacts" 2>/dev/null | grep -v catalog | tail -n 1 | sed "s|^|  latest version: $DIR/artifacts/|"
echo "  cleaned users:   cleaned_data/<desktop|mobile>/metadata/{complete,broken}_users.txt"
echo "  cleaning report: etl_metadata/cleaning/cleaning_report.json"
exit $rc
