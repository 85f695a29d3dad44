#!/usr/bin/env bash
# Wheels for running bench/gpu.sh or bench/gpu_quick.sh on a lent GPU machine that cannot reach PyPI and has
# CUDA PyTorch but no MuJoCo stack (the lent H200 image: Python 3.12, torch 2.11, numpy, scipy, absl-py, lxml,
# etils, ... already there). Downloads our pins for that Python into DIR and slims the two big ones so the whole
# set travels in one call (the device tool carries at most 64 MiB): dm_control without its locomotion assets and
# the dog domain's meshes (the suite tasks we use never load them), mujoco without its experimental package.
#   bench/device_wheels.sh [DIR=.whl] [PYTHON_VERSION=3.12]
# There: python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site DIR/*.whl
#        export PYTHONPATH=/tmp/site:$PWD/src:$PWD
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.whl}
VERSION=${2:-3.12}
PINS="mujoco==3.17.0 dm_control==1.0.50 gymnasium==1.4.0 dm-env dm-tree glfw labmaze pyopengl farama-notifications
      websockets importlib-resources"
rm -rf "$DIR" && mkdir -p "$DIR"
for pin in $PINS; do
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version "$VERSION" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$DIR" "$pin" 2>/dev/null
done
slim() {  # slim WHEEL PATH...: the wheel without PATHs (its RECORD keeps their lines; pip skips missing files)
    local wheel work
    wheel=$(realpath "$1")
    shift
    work=$(mktemp -d)
    (cd "$work" && python3 -m zipfile -e "$wheel" . && rm -rf "$@" &&
     python3 - "$wheel" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as out:
    for root, _, files in os.walk("."):
        for name in sorted(files):
            path = os.path.join(root, name)[2:]
            out.write(path, path)
PY
    )
    rm -rf "$work"
}
slim "$(ls "$DIR"/dm_control-*.whl)" dm_control/locomotion dm_control/suite/dog_assets
slim "$(ls "$DIR"/mujoco-*.whl)" mujoco/experimental
du -ch "$DIR"/*.whl | tail -1
ls "$DIR"
