#!/usr/bin/env bash
# CPU-scale learning curves for Finger Spin -> Reacher Easy: DisWM vs DreamerV2 (README "cpu-scale result").
# Every stage resumes, so rerun this script to continue an interrupted run (a run folder may be moved:
# set DISWM_HOME to where data/, checkpoints/ and runs/ now are). Two processes share the two cores,
# one thread each. Logs: $DISWM_HOME/runs (Sacred) and $DISWM_HOME/logs/cpu_curves/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-0}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
LOGS="${DISWM_HOME:-.}/logs/cpu_curves"
mkdir -p "$LOGS"
"$PY" -m diswm.cli finetune with dreamerv2 cpu source=finger_spin task=reacher_easy seed="$SEED" \
    > "$LOGS/dreamerv2_seed$SEED.log" 2>&1 &
dreamer=$!
{
    "$PY" -m diswm.cli collect with finger_spin cpu
    "$PY" -m diswm.cli pretrain with finger_spin cpu
    "$PY" -m diswm.cli finetune with diswm cpu source=finger_spin task=reacher_easy seed="$SEED"
} > "$LOGS/diswm_seed$SEED.log" 2>&1
wait "$dreamer"
