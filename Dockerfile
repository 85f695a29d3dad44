# The diswm image: every stage, `reproduce` and the figures, on an NVIDIA GPU (or, slowly, on a CPU).
#   make image                      # = docker (or podman) build -t diswm:latest --build-arg GIT_COMMIT=... .
#   docker run --gpus all -v diswm-outputs:/work/outputs diswm:latest reproduce fig4 --scale paper --seeds 3
# With MongoDB and Omniboard alongside, use docker/compose.yaml instead. `make check-image` builds it and uses it
# as a user would (docs/records.md, "The image").
#
# Base: Debian bookworm (the OS CI runs on), Python 3.11 from Debian. The PyPI torch 2.13.0 wheel is the CUDA
# build and brings its CUDA 13.0 runtime and cuDNN as nvidia-* wheels; the host driver (>= 580 for CUDA 13) is
# mounted in by the NVIDIA container toolkit, which the NVIDIA_* variables below drive (what a CUDA base image
# would set). Every Python package is pinned with its sha256 in docker/image.lock (`make image-lock`).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive

# Python 3.11; GLVND's EGL with Mesa (renders on a CPU host) beside NVIDIA's (mounted with the `graphics`
# capability, found through the vendor file below); tini as PID 1, forwarding signals to diswm.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        ca-certificates python3.11 python3.11-venv tini \
        libglvnd0 libegl1 libgl1 libgles2 libopengl0 libegl-mesa0 libgl1-mesa-dri \
 && rm -rf /var/lib/apt/lists/*

ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    NVIDIA_REQUIRE_CUDA="cuda>=13.0" \
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

# Dependencies first, so source edits do not reinstall them: exactly docker/image.lock, every file checked against
# its sha256; the build fails if anything else ends up installed. Behind a TLS-inspecting proxy, pass its CA bundle
# as the build secret `pip_cert` (`--secret id=pip_cert,src=<bundle>`): pip trusts it for this step only, and
# nothing of it stays in the image; without the secret nothing changes.
COPY docker/image.lock docker/check_installed.py /tmp/
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
 && pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/image.lock \
 && python /tmp/check_installed.py /tmp/image.lock \
 && python -c "import torch; assert torch.version.cuda, 'CPU torch installed'" \
 && rm /tmp/image.lock /tmp/check_installed.py

RUN useradd --create-home --uid 1000 --shell /bin/bash diswm
WORKDIR /work

# The project (src/: the diswm library and the diswm command; experiments/ and paper_figures/, installed as
# diswm_app.experiments and diswm_app.paper_figures by setup.py), kept in /work so that commands run from the
# repository root (Makefile) work as in a clone. --no-build-isolation builds with the locked setuptools.
COPY --chown=diswm:diswm pyproject.toml setup.py README.md Makefile environment.lock ./
COPY --chown=diswm:diswm src ./src
COPY --chown=diswm:diswm experiments ./experiments
COPY --chown=diswm:diswm paper_figures ./paper_figures
COPY docker/entrypoint.sh /usr/local/bin/diswm-entrypoint
RUN pip install --no-deps --no-build-isolation . \
 && rm -rf build src/*.egg-info

# Runs, data, checkpoints and results go to $DISWM_HOME: mount a volume there (-v diswm-outputs:/work/outputs). No
# VOLUME instruction, so that a run without one is seen (the entry point warns) instead of filling an anonymous
# volume; the folder belongs to the image's user, so a fresh named volume mounted on it does too.
ENV DISWM_HOME=/work/outputs
RUN mkdir -p /work/outputs && chown diswm:diswm /work /work/outputs

# The commit this image was built from (`.git` is not copied): run records name it as their git commit.
ARG GIT_COMMIT=unknown
ENV DISWM_GIT_COMMIT=$GIT_COMMIT

USER diswm

ENTRYPOINT ["tini", "--", "diswm-entrypoint"]
CMD ["--help"]
