#!/usr/bin/env bash
# The cpu-scale control of the fidelity work (docs/results.md, "cpu-scale control"): the paper's recipe end to end at
# the cpu scale, on Finger Spin -> Cheetah Run. A DreamerV2 source agent learns Finger Spin under colour
# distractors and its replay is the video dataset; the β-VAE teacher is pretrained on it; then DisWM and its
# "w/o distillation" ablation (no_distill) finetune on Cheetah Run (the Fig. 7 ordering). DreamerV2 on the
# same pair and scale is records 15 + 17 of results/cpu_curves/finger_spin_to_cheetah_run/ (its code path
# is unchanged since). One seed; two processes share the two cores, one thread each.
#
# Sizes: the cpu scale throughout, except the source agent's budget (FRAMES, default 10k frames = 20k
# control steps, of which the first 2.5k agent steps are the random prefill) so that the chain fits a
# session; the finetunes run the cpu scale's 100k-step configuration (evaluation and checkpoint every 5k as
# the earlier cpu curves) and are stopped when the session ends: rerun to resume within a session.
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
FRAMES=${FRAMES:-10000}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
LOGS="${DISWM_HOME:-.}/logs/cpu_control"
[ -n "$DRY_RUN" ] || mkdir -p "$LOGS"
log() {  # the log file of a run (standard output in a dry run)
    if [ -n "$DRY_RUN" ]; then echo /dev/stdout; else echo "$LOGS/$1.log"; fi
}
common=(cpu source="$SOURCE" task="$TASK" seed="$SEED" env_steps=100000 eval_every=5000 checkpoint_every=5000)
diswm finetune with no_distill "${common[@]}" >> "$(log no_distill)" 2>&1 &
ablation=$!
{
    diswm source_agent with "$SOURCE" cpu seed="$SEED" frames="$FRAMES"
    diswm pretrain with "$SOURCE" cpu
    diswm finetune with diswm "${common[@]}"
} >> "$(log diswm)" 2>&1
wait "$ablation"
