# A Reeve node. docker-compose.yml runs two of them on a three-server NATS cluster
# (docs/cluster.md). Alone:
#   docker build -t reeve .
#   docker run --rm -e REEVE_STORE__TYPE=nats -e REEVE_NATS__SERVERS=nats://host:4222 \
#     -e REEVE_NATS__USER=node -e REEVE_NATS__PASS=... reeve
# Any other reeve command: docker run --rm ... reeve status

# Build: the compiled JavaScript (dist/, by TypeScript, a dev dependency) and the runtime
# dependencies. better-sqlite3 (the embedded store and every node's process registry) is
# compiled from source here, so it matches this image's Node and libc.
FROM node:20-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build.mjs ./scripts/build.mjs
# `npm ci` builds dist/ (the `prepare` script); then the dev dependencies (typescript, vitest)
# are pruned. build_from_source skips the prebuilt download; nodedir points node-gyp at the
# headers this image ships.
ENV npm_config_build_from_source=true \
    npm_config_nodedir=/usr/local
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# tini is PID 1: it forwards SIGTERM to the node (which then drains) and reaps orphaned
# grandchildren of command agents. git: kinds with a "repo" run in a git worktree.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json reeve.config.json ./
COPY --from=deps /app/dist ./dist
COPY bin ./bin
COPY examples ./examples
COPY deploy/reeve ./deploy/reeve
# Node state: node id, process registry, run logs, workspaces (and the SQLite store in
# embedded mode). Keep it on a volume so a restarted container finds its previous incarnation.
RUN mkdir -p /var/lib/reeve && chown node:node /var/lib/reeve
ENV REEVE_NODE__DATADIR=/var/lib/reeve
VOLUME ["/var/lib/reeve"]
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/reeve.js"]
CMD ["start"]
