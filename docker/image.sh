#!/usr/bin/env bash
# The image, with whichever engine is here: docker when it runs, else podman (Debian's, with runc).
#   docker/image.sh engine         # print the engine command (for scripts: $(docker/image.sh engine) run ...)
#   docker/image.sh base           # make sure the base image exists (see below)
#   docker/image.sh build [TAG]    # build the image (default diswm:latest) from this checkout
#   docker/image.sh omniboard      # build Omniboard's image (diswm-omniboard:2.16.1, docker/omniboard.Dockerfile)
# Base: debian:bookworm-slim from the engine's registry; where none can be reached (as on CI here), it is built
# from Debian's archive with mmdebstrap and imported under that name, and the script says so.
# Build secret pip_cert: $PIP_CERT (a CA bundle, for builds behind a TLS-inspecting proxy) when it is set.
# NO_CACHE=1: build every layer anew (what a first build on a new machine does).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=debian:bookworm-slim

engine() {
    if command -v docker > /dev/null && docker info > /dev/null 2>&1; then
        echo docker
    elif command -v podman > /dev/null; then
        echo podman
    else
        echo "no container engine: install docker, or podman (Debian: apt-get install podman runc mmdebstrap uidmap)" >&2
        exit 2
    fi
}

ENGINE=$(engine)
if [ "$ENGINE" = podman ]; then
    export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/docker/podman-containers.conf}
fi

base() {
    if $ENGINE image inspect "$BASE" > /dev/null 2>&1; then
        return
    fi
    if timeout 120 $ENGINE pull "docker.io/library/$BASE" > /dev/null 2>&1; then
        return
    fi
    command -v mmdebstrap > /dev/null || { echo "no registry for $BASE and no mmdebstrap to build it" >&2; exit 2; }
    echo "[image] no registry reachable for $BASE: building it from Debian's archive (mmdebstrap bookworm)" >&2
    tar=$(mktemp --suffix=.tar)
    mmdebstrap --quiet --variant=minbase bookworm "$tar"
    $ENGINE import "$tar" "$BASE" > /dev/null
    rm -f "$tar"
}

build_options() {
    if [ -n "${PIP_CERT:-}" ] && [ -s "$PIP_CERT" ]; then
        echo "--secret id=pip_cert,src=$PIP_CERT"
    fi
    [ "$ENGINE" = podman ] && echo "--network host"  # apt, pip and npm reach their registries as the host does
    [ -n "${NO_CACHE:-}" ] && echo "--no-cache"
    return 0
}

build() {
    local tag=${1:-diswm:latest}
    base
    # shellcheck disable=SC2046
    $ENGINE build $(build_options) --build-arg "GIT_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
        -t "$tag" -f Dockerfile .
}

omniboard() {
    base
    # shellcheck disable=SC2046
    $ENGINE build $(build_options) -t diswm-omniboard:2.16.1 -f docker/omniboard.Dockerfile docker
}

case "${1:-build}" in
    engine) echo "$ENGINE" ;;
    base) base ;;
    build) shift || true; build "$@" ;;
    omniboard) omniboard ;;
    *) echo "usage: docker/image.sh engine|base|build [TAG]|omniboard" >&2; exit 2 ;;
esac
