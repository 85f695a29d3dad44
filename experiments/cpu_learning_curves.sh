#!/usr/bin/env bash
# CPU-scale learning curves for Finger Spin -> Reacher Easy: DisWM vs DreamerV2 (README "cpu-scale result").
# Every stage resumes, so rerun this script to continue an interrupted run. Two processes share the two
# cores: one thread each. Logs: runs/ (Sacred) and logs/cpu_curves/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-0}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p logs/cpu_curves
"$PY" -m diswm.cli finetune with dreamerv2 cpu source=finger_spin task=reacher_easy seed="$SEED" \
    > logs/cpu_curves/dreamerv2_seed$SEED.log 2>&1 &
dreamer=$!
{
    "$PY" -m diswm.cli collect with finger_spin cpu
    "$PY" -m diswm.cli pretrain with finger_spin cpu
    "$PY" -m diswm.cli finetune with diswm cpu source=finger_spin task=reacher_easy seed="$SEED"
} > logs/cpu_curves/diswm_seed$SEED.log 2>&1
wait "$dreamer"
