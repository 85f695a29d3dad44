#!/usr/bin/env bash
# The batched-evaluation, bf16 and packed-runs measurements sized for one short call on a lent GPU (about 8 minutes; bench/gpu.sh has them all):
#   bench/gpu_quick.sh OUT_DIR
# evaluation one at a time / side by side / side by side in worker processes, an env step with the kept camera
# and a policy step, bf16 vs fp32 agreement, and 1 vs 4 packed paper-scale loops.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/gpu_quick.sh OUT_DIR}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MUJOCO_GL=${MUJOCO_GL:-egl}
PY=${PY:-python3}
{
nvidia-smi -L; $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
timeout 60 $PY -m bench.act_speed --device cuda --steps 300
timeout 120 $PY -m bench.eval_speed --scale paper --episodes 10 --time-limit 400 --repeats 1 --device cuda
timeout 120 $PY -m bench.precision_check --scale paper --batch 50 --length 50 --updates 150 --device cuda
timeout 240 $PY -m bench.packed_runs --scale paper --device cuda --runs 1 4 --env-steps 1000 --warm-steps 500 \
    -- --cuda-graph
timeout 60 $PY -m bench.gpu_hours --seeds 3 --runs-per-gpu 4 || timeout 60 $PY -m bench.gpu_hours --seeds 3
} 2>&1 | tee "$OUT/gpu_quick.log"
cp bench/results/act_speed_cuda.json bench/results/eval_speed_paper_cuda.json bench/results/precision_paper_cuda.json \
   bench/results/packed_runs_paper_cuda.json bench/results/gpu_hours.json bench/results/gpu_hours.md "$OUT"/ 2>/dev/null
