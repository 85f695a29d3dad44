# Omniboard 2.16.1 (web UI for the Sacred runs in MongoDB), pinned, on the same Debian base as the diswm image
# (no other registry is needed): Debian's Node.js and npm. Built by docker/compose.yaml (and `make check-compose`).
# Behind a TLS-inspecting proxy, pass its CA bundle as the build secret `pip_cert`, as for the diswm image: npm
# trusts it for the install step only.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates nodejs npm \
 && rm -rf /var/lib/apt/lists/*

RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export NPM_CONFIG_CAFILE=/run/secrets/pip_cert; fi \
 && npm install -g --no-audit --no-fund omniboard@2.16.1 \
 && npm cache clean --force

# An unprivileged user.
RUN useradd --create-home --uid 1000 omniboard
USER omniboard

# Inside the container Omniboard listens on all interfaces, which the port mapping needs; compose
# publishes it on the host as 127.0.0.1:9000 only.
EXPOSE 9000
ENTRYPOINT ["omniboard"]
CMD ["-m", "mongo:27017:sacred"]
