# luma-guest-sync: one image, two targets.
#   runtime (the default, last stage): production dependencies only; the worker and db:migrate.
#   dev:     every dependency; the local Luma simulator and other tooling in compose.yaml.
# Node 24 runs src/*.ts itself by stripping the types (tsconfig erasableSyntaxOnly keeps the
# source strippable): no transpiler in the image, no build output to drift from src/.
# Needs BuildKit for `RUN --mount=type=cache` (the npm cache): the default builder of
# Docker 23 and later, docker buildx and podman/buildah; on older Docker set DOCKER_BUILDKIT=1
# (the legacy builder rejects --mount). No `# syntax=` line: it would make BuildKit fetch a
# frontend image from Docker Hub.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# Every dependency, for the dev target and the type check.
FROM base AS deps-dev
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci

# Type stripping does not type-check: this stage does, and the runtime stage copies its
# marker file, so a type error fails the image build (as it fails CI's `npm run typecheck`).
FROM deps-dev AS typecheck
COPY tsconfig.json drizzle.config.ts ./
COPY migrations ./migrations
COPY src ./src
COPY test ./test
RUN npx tsc --noEmit && touch /typechecked

# Production dependencies only. No install scripts: none of them needs one.
FROM base AS deps-prod
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts

# The application source less src/local/ (the simulated Luma, the embedded local stack,
# demo data): development tools the runtime image does not ship. The worker never imports
# them (test/deploy/dockerfile.test.ts walks its imports to prove it).
FROM base AS app-src
COPY src ./src
RUN rm -rf src/local

FROM base AS dev
COPY --from=deps-dev /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY migrations ./migrations
COPY src ./src
COPY test ./test
# Numeric, as Kubernetes' runAsNonRoot needs: the base image's `node` user and group.
USER 1000:1000
ENTRYPOINT ["node"]
CMD ["src/main.ts", "daemon"]

FROM base AS runtime
ENV NODE_ENV=production
COPY --from=typecheck /typechecked /app/.typechecked
# Files stay owned by root and read-only to the user that runs them.
COPY --from=deps-prod /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY migrations ./migrations
COPY --from=app-src /app/src ./src
# Numeric uid:gid (the base image's `node` user), so Kubernetes' runAsNonRoot can verify
# it without a runAsUser of its own ("image has non-numeric user" otherwise).
USER 1000:1000
EXPOSE 8080
# Liveness only (the event loop answers); readiness lives at /readyz for orchestrators.
# The slim image has no curl, so Node's fetch makes the request.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/main.ts"]
CMD ["daemon"]
