# syntax=docker/dockerfile:1
# luma-guest-sync: one image, two targets.
#   runtime (the default, last stage): production dependencies only; the worker and db:migrate.
#   dev:     every dependency; the local Luma simulator and other tooling in compose.yaml.
# TypeScript runs through tsx, a production dependency: there is no build step to drift from src/.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# Every dependency, for the dev target.
FROM base AS deps-dev
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

# Production dependencies only. No install scripts: none is needed (esbuild, under tsx,
# finds its binary through its platform package), and none of them runs on our image.
FROM base AS deps-prod
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts

FROM base AS dev
COPY --from=deps-dev /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY migrations ./migrations
COPY src ./src
COPY test ./test
USER node
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["src/main.ts", "daemon"]

FROM base AS runtime
# tsx would otherwise cache transpiled files under the temp dir; without the cache the
# image runs on a read-only root filesystem even where no writable /tmp is mounted.
ENV NODE_ENV=production \
    TSX_DISABLE_CACHE=1
# Files stay owned by root and read-only to the node user that runs them.
COPY --from=deps-prod /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY migrations ./migrations
COPY src ./src
USER node
EXPOSE 8080
# Liveness only (the event loop answers); readiness lives at /readyz for orchestrators.
# The slim image has no curl, so Node's fetch makes the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
CMD ["daemon"]
