#!/bin/sh
# The image's requirements from environment.lock (stdin -> stdout): the lock as `make setup` installs it, except
# torch. The default PyPI Linux wheel of the same version is the CUDA build, and pip adds its CUDA dependencies
# (absent from the CPU lock). `===` rather than `==`: `==2.13.0` also matches `2.13.0+cpu`, which pip would
# prefer wherever an index offers it; PyTorch index lines are dropped for the same reason.
# Used by the Dockerfile and by `make check-docker-deps` (pip --dry-run of the same list, without Docker).
exec sed -e 's/^torch==2.13.0+cpu$/torch===2.13.0/' -e '/download\.pytorch\.org/d'
