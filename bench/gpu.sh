#!/usr/bin/env bash
# The GPU benchmarks, as one script for a lent GPU machine (python3 there has CUDA PyTorch):
#   bench/gpu.sh OUT_DIR
# Needs mujoco/dm_control/gymnasium importable for the finetune-loop benchmark (PYTHONPATH), and
# writes the JSON results to bench/results/ and copies them, the profile and the log to OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: bench/gpu.sh OUT_DIR}
mkdir -p "$OUT" bench/results
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MUJOCO_GL=${MUJOCO_GL:-egl}
PY=${PY:-python3}
{
nvidia-smi -L; $PY -V; $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
$PY -m bench.graph_check --scale paper --batch 16 --length 50 --updates 8
for flags in "" "--compile" "--compile --tf32" "--cuda-graph" "--cuda-graph --compile"; do
    $PY -m bench.train_step --scale paper --batch 50 --length 50 --repeats 10 --warmup 5 $flags
done
$PY -m bench.profile_step --scale paper --compile --out "$OUT/profile_paper_B50xL50_compiled.txt" > /dev/null
timeout 200 $PY -m bench.finetune_speed --scale paper --device cuda --compile --cuda-graph
# evaluation side by side against one at a time (10 paper episodes of 1000 control steps), bf16 against
# fp32 (agreement over 300 updates; the loop's speed with bf16), and 1, 2, 4, 8 loops packed on the one GPU
timeout 300 $PY -m bench.eval_speed --scale paper --episodes 10 --time-limit 1000 --repeats 2 --device cuda
timeout 300 $PY -m bench.precision_check --scale paper --batch 50 --length 50 --updates 300 --device cuda
timeout 200 $PY -m bench.finetune_speed --scale paper --device cuda --compile --cuda-graph --precision bf16
timeout 900 $PY -m bench.packed_runs --scale paper --device cuda --runs 1 2 4 8 --env-steps 2000 --warm-steps 1000 \
    -- --compile --cuda-graph
$PY -m bench.act_speed --device cuda
# GPU-hours per paper item from what was just measured (one run per GPU, then 4 packed)
$PY -m bench.gpu_hours --seeds 3 && $PY -m bench.gpu_hours --seeds 3 --runs-per-gpu 4 --out bench/results/gpu_hours_k4.json
} 2>&1 | tee "$OUT/gpu_bench.log"
[ "$(realpath "$OUT")" = "$(realpath bench/results)" ] || cp bench/results/*cuda*.json bench/results/gpu_hours*.* "$OUT"/
