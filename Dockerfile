# syntax=docker/dockerfile:1
# Badgestream ingest service (the Caliper Sensor API). Used by docker-compose.yml; the same image
# runs the other services with another command (`node bin/badgestream.js serve <service>`).

# --- build: install every workspace, compile TypeScript, then drop the dev dependencies ---------
FROM node:20-bookworm AS build
WORKDIR /app
ENV CI=true TURBO_TELEMETRY_DISABLED=1 NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false
# The whole workspace (see .dockerignore): the install needs every workspace's package.json.
# npm install rather than npm ci: the lock file may lack optional binaries of other platforms
# (turbo's), which npm ci rejects; npm install still installs the locked versions.
COPY . .
RUN npm install --no-audit --no-fund && npm run build && npm prune --omit=dev

# --- runtime: slim Node 20, no compilers, not root ---------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    INGEST_HOST=0.0.0.0 \
    INGEST_PORT=8080
WORKDIR /app
# Workspace packages are symlinked from node_modules/@badgestream/* to their folders, so the
# folders (package.json + dist + data files such as schemas/json) come along with node_modules.
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.INGEST_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM directly (graceful shutdown of in-flight requests).
CMD ["node", "bin/badgestream.js", "serve", "ingest"]
