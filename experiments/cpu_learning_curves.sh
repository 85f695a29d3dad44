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
# DRY_RUN=1 prints the commands it would run (as `diswm ...` lines) and runs nothing. Logs are appended to.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DRY_RUN=${DRY_RUN:-}
diswm() {
    if [ -n "$DRY_RUN" ]; then echo "diswm $*"; else diswm "$@"; fi
}
SEED=${SEED:-0}
SOURCE=${SOURCE:-finger_spin}
TASK=${TASK:-cheetah_run}
ENV_STEPS=${ENV_STEPS:-100000}
EVAL_EVERY=${EVAL_EVERY:-5000}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-5000}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
LOGS="${DISWM_HOME:-.}/logs/cpu_curves"
[ -n "$DRY_RUN" ] || mkdir -p "$LOGS"
log() {  # the log file of a run (standard output in a dry run)
    if [ -n "$DRY_RUN" ]; then echo /dev/stdout; else echo "$LOGS/$1.log"; fi
}
common=(cpu source="$SOURCE" task="$TASK" seed="$SEED" env_steps="$ENV_STEPS" eval_every="$EVAL_EVERY"
        checkpoint_every="$CHECKPOINT_EVERY")
diswm finetune with dreamerv2 "${common[@]}" >> "$(log "${SOURCE}_to_${TASK}_dreamerv2_seed$SEED")" 2>&1 &
dreamer=$!
{
    diswm collect with "$SOURCE" cpu
    diswm pretrain with "$SOURCE" cpu videos=random  # the teacher of the random-policy videos above
    diswm finetune with diswm "${common[@]}" videos=random
} >> "$(log "${SOURCE}_to_${TASK}_diswm_seed$SEED")" 2>&1
wait "$dreamer"
