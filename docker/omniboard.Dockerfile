# Omniboard (web UI for the Sacred runs in MongoDB), pinned. Built by docker/compose.yaml.
FROM node:20-bookworm-slim

RUN npm install -g --no-audit --no-fund omniboard@2.16.1 \
 && npm cache clean --force

# The image's unprivileged user.
USER node

# Inside the container Omniboard listens on all interfaces, which the port mapping needs; compose
# publishes it on the host as 127.0.0.1:9000 only.
EXPOSE 9000
ENTRYPOINT ["omniboard"]
CMD ["-m", "mongo:27017:sacred"]
