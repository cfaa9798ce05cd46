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
latest=$("$BIN" versions current --config-dir "$DIR/config" --set ARTIFACTS_DIR="$DIR/artifacts" 2>/dev/null || true)
echo "Outputs of version ${latest:-?} in $DIR/artifacts/${latest:-<version id>}/:"
echo "  keypairs/keypairs.{parquet,csv}                 keypair timings (HL, IL, PL, RL, validity, outliers)"
echo "  statistical_features/*/features.{parquet,csv}  feature tables (user x platform / session / video)"
echo "  statistical_IL_top_10_features/                 top-10 digram IL tables"
echo "  kvc_features/                                   key-coded sequences (.npy) for sequence models"
echo "  eda_reports/data_quality/report.html            data-quality report (open in a browser)"
echo "  etl_metadata/                                   stage reports; 'build/keyetl versions list --set ARTIFACTS_DIR=$DIR/artifacts'"
exit $rc
