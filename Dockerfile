# syntax=docker/dockerfile:1
# pvjournal container image: the sidecar and the replica are the same image,
# the command picks the role (`sidecar -c FILE` or `replica -c FILE`).
#
#   docker build -t pvjournal:0.1.0 .
#
# The tag follows package.json's version; test/deploy-drift.test.ts checks that
# docker-compose.yml and deploy/kubernetes use the same image name.

# ---- build: compile TypeScript and better-sqlite3's native addon -------------
FROM node:24-bookworm-slim AS build
# better-sqlite3 12.x compiles from source when no prebuilt binary matches
# (about 75 s on 2 cores): it needs python3, make and a C++ compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Lockfile first so the dependency layer is cached across source changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY config ./config
# Then drop devDependencies but keep the compiled native addons: pruning keeps
# the build/Release output that a second `npm ci --omit=dev` would rebuild.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime: node + dist + production node_modules, nothing else ------------
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# Numeric uid/gid so Kubernetes runAsNonRoot can verify it without /etc/passwd.
ARG PVJ_UID=10001
# /journal, /replica, /drills, /restore: the conventional mount points, owned
# by the runtime user. Docker seeds a new empty named volume with the
# ownership of the image directory it is mounted on, so the non-root daemons
# can write their journal, mirror, drill sandboxes and restores in
# docker-compose without a chown step. (Kubernetes uses the pod's fsGroup.)
RUN groupadd --gid ${PVJ_UID} pvjournal \
 && useradd --uid ${PVJ_UID} --gid ${PVJ_UID} --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin pvjournal \
 && mkdir -p /journal /replica /drills /restore /etc/pvjournal \
 && chown ${PVJ_UID}:${PVJ_UID} /journal /replica /drills /restore
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/config ./config
USER 10001:10001
# api.listen must be 0.0.0.0:7070 in the mounted config for other containers
# to reach it; 7070 is the default port.
EXPOSE 7070
# Liveness only (200 while the process is alive). The slim image has no curl:
# node's fetch does it. Assumes plain HTTP on port 7070; with api.tlsCert set,
# or another port, override it (docker run --health-cmd / compose healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7070/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1: pvjournal handles SIGTERM/SIGINT itself (flush, fsync, exit).
ENTRYPOINT ["node", "/app/dist/cli.js"]
# Mount a config here (a ConfigMap in Kubernetes); see config/examples/.
CMD ["sidecar", "-c", "/etc/pvjournal/pvjournal.yaml"]
