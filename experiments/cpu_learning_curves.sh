#!/usr/bin/env bash
# CPU-scale learning curves, DisWM vs DreamerV2 (docs/results.md, "cpu-scale result"). Default pair: Finger Spin ->
# Cheetah Run, the cpu scale's 100k env steps (test colours from 50k), an evaluation every 5k env
# steps, a checkpoint every 5k; about 5-6 h on 2 cores, so it spans sessions: every stage resumes
# from its last checkpoint to the same result, so rerun this script to continue (a run folder may be
# moved: set DISWM_HOME to where data/, checkpoints/ and runs/ now are). Two processes share the two
# cores, one thread each. Logs: $DISWM_HOME/runs (Sacred) and $DISWM_HOME/logs/cpu_curves/*.log.
# Earlier runs: SOURCE=finger_spin TASK=reacher_easy ENV_STEPS=100000 EVAL_EVERY=10000 CHECKPOINT_EVERY=10000
# (session 2), ENV_STEPS=50000 CHECKPOINT_EVERY=10000 TASK=cartpole_swingup (session 3), and stopped
# attempts on Cartpole Swingup and Cheetah Run with the cpu scale's former train_every=10 (sessions 3-4);
# see results/cpu_curves/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-0}
SOURCE=${SOURCE:-finger_spin}
TASK=${TASK:-cheetah_run}
ENV_STEPS=${ENV_STEPS:-100000}
EVAL_EVERY=${EVAL_EVERY:-5000}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-5000}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
LOGS="${DISWM_HOME:-.}/logs/cpu_curves"
mkdir -p "$LOGS"
common=(cpu source="$SOURCE" task="$TASK" seed="$SEED" env_steps="$ENV_STEPS" eval_every="$EVAL_EVERY"
        checkpoint_every="$CHECKPOINT_EVERY")
"$PY" -m diswm_app.cli finetune with dreamerv2 "${common[@]}" > "$LOGS/${SOURCE}_to_${TASK}_dreamerv2_seed$SEED.log" 2>&1 &
dreamer=$!
{
    "$PY" -m diswm_app.cli collect with "$SOURCE" cpu
    "$PY" -m diswm_app.cli pretrain with "$SOURCE" cpu
    "$PY" -m diswm_app.cli finetune with diswm "${common[@]}"
} > "$LOGS/${SOURCE}_to_${TASK}_diswm_seed$SEED.log" 2>&1
wait "$dreamer"
