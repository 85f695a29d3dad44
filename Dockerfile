# GPU image for reproducing the paper:
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t diswm .
#   docker run --gpus all -v diswm-outputs:/work/outputs diswm reproduce <table> --scale paper
# With MongoDB and Omniboard alongside, use docker/compose.yaml instead.

# The `base` flavour is enough: the PyPI torch 2.13.0 wheel brings its own CUDA 13.0 runtime and cuDNN
# (nvidia-*/cuda-* wheels); the host driver (>= 580 for CUDA 13) is mounted in by the NVIDIA container
# toolkit. Matching the base image's CUDA version makes the toolkit reject an older driver up front.
FROM nvidia/cuda:13.0.1-base-ubuntu22.04

ARG DEBIAN_FRONTEND=noninteractive

# Python 3.11 (pyproject requires >=3.11,<3.12) from the deadsnakes PPA; EGL/GLVND for headless MuJoCo.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates software-properties-common \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3.11-dev \
        libglvnd0 libegl1 libgl1 libgles2 libopengl0 \
 && apt-get purge -y --auto-remove software-properties-common \
 && rm -rf /var/lib/apt/lists/*

# The container toolkit mounts NVIDIA's EGL driver only with the `graphics` capability; GLVND finds it
# through this vendor file (the CUDA base images do not ship one).
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl
RUN mkdir -p /usr/share/glvnd/egl_vendor.d \
 && printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libEGL_nvidia.so.0"}}\n' \
        > /usr/share/glvnd/egl_vendor.d/10_nvidia.json

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
RUN python3.11 -m venv /opt/venv

# Dependencies first, so source edits do not reinstall them: the same lock as `make setup` with the CUDA build
# of torch (docker/image_requirements.sh; `make check-docker-deps` resolves the same list without Docker).
# The import check fails the build if a CPU wheel slipped in anyway.
COPY environment.lock /tmp/environment.lock
COPY docker/image_requirements.sh /tmp/image_requirements.sh
RUN sh /tmp/image_requirements.sh < /tmp/environment.lock > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && python -c "import torch; assert torch.version.cuda, 'CPU torch installed'" \
 && rm /tmp/requirements.txt /tmp/environment.lock /tmp/image_requirements.sh

RUN useradd --create-home --uid 1000 --shell /bin/bash diswm
WORKDIR /work

# The project itself (src/: the diswm library and the diswm command; experiments/ and paper_figures/, installed
# as diswm_app.experiments and diswm_app.paper_figures by setup.py), kept in
# /work so that commands run from the repository root (Makefile) work as in a clone. --no-build-isolation
# builds with the locked setuptools; the in-tree build leftovers are removed.
COPY --chown=diswm:diswm pyproject.toml setup.py README.md Makefile environment.lock ./
COPY --chown=diswm:diswm src ./src
COPY --chown=diswm:diswm experiments ./experiments
COPY --chown=diswm:diswm paper_figures ./paper_figures
RUN pip install --no-deps --no-build-isolation . \
 && rm -rf build src/*.egg-info

# Runs, data, checkpoints and results go to one volume; created here so that a fresh named volume
# inherits the non-root owner.
ENV DISWM_HOME=/work/outputs
RUN mkdir -p /work/outputs && chown diswm:diswm /work /work/outputs
VOLUME ["/work/outputs"]

# The commit this image was built from (`.git` is not copied): run records name it as their git commit.
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t diswm .
ARG GIT_COMMIT=unknown
ENV DISWM_GIT_COMMIT=$GIT_COMMIT

USER diswm

ENTRYPOINT ["diswm"]
CMD ["--help"]
