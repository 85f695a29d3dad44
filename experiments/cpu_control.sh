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
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SEED=${SEED:-0}
SOURCE=${SOURCE:-finger_spin}
TASK=${TASK:-cheetah_run}
FRAMES=${FRAMES:-10000}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
LOGS="${DISWM_HOME:-.}/logs/cpu_control"
mkdir -p "$LOGS"
common=(cpu source="$SOURCE" task="$TASK" seed="$SEED" env_steps=100000 eval_every=5000 checkpoint_every=5000)
"$PY" -m diswm_app.cli finetune with no_distill "${common[@]}" > "$LOGS/no_distill.log" 2>&1 &
ablation=$!
{
    "$PY" -m diswm_app.cli source_agent with "$SOURCE" cpu seed="$SEED" frames="$FRAMES"
    "$PY" -m diswm_app.cli pretrain with "$SOURCE" cpu
    "$PY" -m diswm_app.cli finetune with diswm "${common[@]}"
} > "$LOGS/diswm.log" 2>&1
wait "$ablation"
